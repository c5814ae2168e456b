"""What the admin and the management commands share: ``status`` (a snapshot
of every backend alias and queue), ``moving`` (pending tasks from one alias
to another), ``pruning`` (deleting old rows in small batches) and
``schedules`` (the next runs of a database schedule, as people read them)."""
