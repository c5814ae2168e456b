"""What the admin and the management commands share: ``status`` (a snapshot
of every backend alias and queue), ``moving`` (pending tasks from one alias
to another) and ``pruning`` (deleting old rows in small batches)."""
