"""Deleting old rows in small batches, so that pruning never holds long locks."""

from __future__ import annotations

from django.db.models import QuerySet

from symphra_django import conf


def retention_seconds(older_than: float | None, batch_size: int) -> float | None:
    """The age past which finished rows go: ``older_than``, or the
    ``HISTORY_RETENTION`` setting when it is None (None there: keep them
    forever, and this returns None). Refuses a negative age or batch size."""
    if older_than is None:
        older_than = conf.get("HISTORY_RETENTION")
        if older_than is None:
            return None
    if older_than < 0:
        raise ValueError(f"older_than must be >= 0 seconds, got {older_than!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    return older_than


def delete_in_batches(rows: QuerySet, batch_size: int, *, dry_run: bool = False, order_by: str = "finished_at") -> int:
    """Delete ``rows`` ``batch_size`` at a time, oldest first; returns how many
    were (or, with ``dry_run``, would be) deleted."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if dry_run:
        return rows.count()
    total = 0
    while True:
        ids = list(rows.order_by(order_by).values_list("pk", flat=True)[:batch_size])
        if not ids:
            return total
        deleted, _ = rows.filter(pk__in=ids).delete()
        total += deleted
        if len(ids) < batch_size:
            return total
