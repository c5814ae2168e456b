"""Retention of the database backend's history: pruning old finished rows.

Acknowledged (``done``) and failed rows are the history; they are deleted
once older than ``SYMPHRA["HISTORY_RETENTION"]`` seconds, in small batches
(each its own short transaction) so that workers claiming from the same table
are never held up for long. ``prunetasks`` is the command-line front end; a
scheduler can call :func:`prune_history` directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from symphra_django.backends.database.config import queue_databases
from symphra_django.backends.database.times import model_datetime
from symphra_django.backends.handler import unknown_alias
from symphra_django.installation import require_migrated
from symphra_django.models import QueuedTask
from symphra_django.ops.pruning import delete_in_batches, retention_seconds

logger = logging.getLogger("symphra_django.backends.database")

# str() of a choices member is its value (``.value`` would be the same, but
# without django-stubs the type checker sees the (value, label) tuple).
FINISHED = (str(QueuedTask.Status.DONE), str(QueuedTask.Status.FAILED))


def prune_history(
    older_than: float | None = None,
    *,
    databases: Iterable[str] | None = None,
    statuses: Iterable[str] = FINISHED,
    batch_size: int = 500,
    dry_run: bool = False,
) -> int:
    """Delete finished rows whose ``finished_at`` is more than ``older_than``
    seconds ago (default: the ``HISTORY_RETENTION`` setting; None there means
    keep forever). Returns how many rows were (or, with ``dry_run``, would be)
    deleted, over every queue database (or those given). ValueError for a
    database that holds no queue; NotMigrated for one not migrated."""
    older_than = retention_seconds(older_than, batch_size)
    if older_than is None:
        return 0
    statuses = list(statuses)
    unknown = sorted(set(statuses) - set(FINISHED))
    if unknown:
        raise ValueError(f"cannot prune status(es) {unknown}; choose among {list(FINISHED)}")
    configured = queue_databases()
    for database in databases or ():
        if database not in configured:
            raise ValueError(unknown_alias(
                database, configured, kind="queue database",
                setting="the settings.DATABASES aliases that the database backends of settings.SYMPHRA['BACKENDS'] use",
            ))
    cutoff = model_datetime(time.time() - older_than)
    total = 0
    for database in configured if databases is None else databases:
        require_migrated(database)
        old = QueuedTask.objects.using(database).filter(
            status__in=statuses, finished_at__lt=cutoff
        )
        total += delete_in_batches(old, batch_size, dry_run=dry_run)
        if dry_run:
            continue
        logger.info("pruned history of database %r: %d row(s) so far", database, total)
    return total
