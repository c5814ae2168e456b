"""Retention of Django task results: finished rows (SUCCESSFUL or FAILED)
older than ``SYMPHRA["HISTORY_RETENTION"]`` seconds are deleted, in small
batches so that workers writing results are never held up for long.
``manage.py prunetaskresults`` is the command-line front end."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from symphra_django.models.results import DjangoTaskResult
from symphra_django.ops.pruning import delete_in_batches, retention_seconds

logger = logging.getLogger("symphra_django.django_tasks")


def prune_results(
    older_than: float | None = None,
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    using: str | None = None,
) -> int:
    """Delete results finished more than ``older_than`` seconds ago (default:
    ``HISTORY_RETENTION``; None there keeps them forever). Returns how many
    rows were (or, with ``dry_run``, would be) deleted. READY and RUNNING
    results are never pruned."""
    older_than = retention_seconds(older_than, batch_size)
    if older_than is None:
        return 0
    rows = DjangoTaskResult.objects.db_manager(using).finished().filter(
        finished_at__lt=timezone.now() - timedelta(seconds=older_than)
    )
    total = delete_in_batches(rows, batch_size, dry_run=dry_run)
    if dry_run:
        return total
    logger.info("pruned %d Django task result(s)", total)
    return total
