"""The database backend's queue table (also its failed store and history)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models


class PartialIndex(models.Index):
    """An index of the rows matching ``where`` on engines with partial
    indexes (SQLite, PostgreSQL), of every row on the others (MySQL,
    MariaDB), where Django's own ``condition`` would be dropped with a
    ``models.W037`` warning at every ``migrate``.

    Rows outside ``where`` cost no index write: the queue table's inserts
    (ready tasks) and most updates skip the index entirely. Queries that
    should use it must spell ``where``'s values as literals, so that the
    planner can prove the index covers them.
    """

    def __init__(self, *args: Any, where: models.Q, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.where = where

    def deconstruct(self) -> Any:
        path, args, kwargs = super().deconstruct()
        kwargs["where"] = self.where
        return path, args, kwargs

    def _get_condition_sql(self, model: Any, schema_editor: Any) -> str | None:
        if not schema_editor.connection.features.supports_partial_indexes:
            return None
        self.condition, condition = self.where, self.condition
        try:
            return super()._get_condition_sql(model, schema_editor)
        finally:
            self.condition = condition


class QueuedTaskQuerySet(models.QuerySet):
    """History queries: finished and failed tasks by name, status, queue, time."""

    def finished(self) -> QueuedTaskQuerySet:
        """Done and failed tasks (the history), newest first."""
        return self.filter(
            status__in=[QueuedTask.Status.DONE, QueuedTask.Status.FAILED]
        ).order_by("-finished_at")

    def history(
        self,
        *,
        task_name: str | None = None,
        status: str | None = None,
        queue: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> QueuedTaskQuerySet:
        """Finished tasks matching every given filter; ``since``/``until``
        bound ``finished_at`` (inclusive, exclusive)."""
        qs = self.finished()
        if task_name is not None:
            qs = qs.filter(task_name=task_name)
        if status is not None:
            qs = qs.filter(status=status)
        if queue is not None:
            qs = qs.filter(queue=queue)
        if since is not None:
            qs = qs.filter(finished_at__gte=since)
        if until is not None:
            qs = qs.filter(finished_at__lt=until)
        return qs

    def pending(self) -> QueuedTaskQuerySet:
        """Tasks not finished yet: ready, delayed or in flight."""
        return self.filter(status__in=[QueuedTask.Status.READY, QueuedTask.Status.IN_FLIGHT])


class QueuedTask(models.Model):
    """One task in the database backend: queued, leased, failed or done."""

    class Status(models.TextChoices):
        READY = "ready", "Ready"  # due or delayed: see scheduled_time
        IN_FLIGHT = "in_flight", "In flight"
        FAILED = "failed", "Failed"
        DONE = "done", "Done"

    id = models.CharField("task id", max_length=255, primary_key=True)
    queue = models.CharField(max_length=100, default="default")
    task_name = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    priority = models.SmallIntegerField(default=0)
    scheduled_time = models.DateTimeField()
    # Enqueue order, the last tie-breaker of the claim order (C4).
    seq = models.BigIntegerField(default=0)
    payload = models.TextField(help_text="The task message as JSON.")
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=1)
    lease_token = models.CharField(max_length=32, null=True, blank=True)
    lease_expires = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(null=True, blank=True)
    traceback = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = QueuedTaskQuerySet.as_manager()

    class Meta:
        db_table = "symphra_task_queue"
        verbose_name = "queued task"
        indexes = [
            # Serves the claim: due tasks of a queue by priority, time, order.
            # Plain (not expression) columns so MariaDB creates it too: Django
            # skips expression indexes there.
            models.Index(
                fields=["queue", "status", "-priority", "scheduled_time", "seq"],
                name="symphra_claim_idx",
            ),
            # Serves lease expiry. Only in-flight rows are entered (engines
            # with partial indexes): enqueue and acknowledge write no entry.
            PartialIndex(
                fields=["status", "lease_expires"], name="symphra_lease_idx",
                where=models.Q(status="in_flight"),
            ),
            models.Index(fields=["status", "finished_at"], name="symphra_finished_idx"),
            models.Index(fields=["task_name", "status"], name="symphra_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task_name} ({self.id})"
