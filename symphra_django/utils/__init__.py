"""Small helpers: identifier validation, masking secrets in URLs, epoch
seconds ⇄ datetimes, running a call with a time limit, bounding text for logs
and stored reasons."""
