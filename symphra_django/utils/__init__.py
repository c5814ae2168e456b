"""Small helpers with no Django state: identifier validation, masking
secrets in URLs."""
