"""Results of Django ``@django.tasks.task`` calls run by symphra_django.

One row per enqueued call, in the project's database whatever queue backend
carries the call, so ``get_result`` works from any process. The row is
written by the enqueuing process (READY) and updated by the worker that runs
the call (RUNNING, then SUCCESSFUL or FAILED). It exists on Django 5.2 too
(the table is part of the app's migrations) but is only used on Django 6.0+.
"""

from __future__ import annotations

from django.db import models


class DjangoTaskResultQuerySet(models.QuerySet):
    def finished(self) -> DjangoTaskResultQuerySet:
        return self.filter(status__in=DjangoTaskResult.FINISHED)


class DjangoTaskResult(models.Model):
    """The state and outcome of one Django task call."""

    class Status(models.TextChoices):
        # The same values as django.tasks.TaskResultStatus.
        READY = "READY", "Ready"
        RUNNING = "RUNNING", "Running"
        FAILED = "FAILED", "Failed"
        SUCCESSFUL = "SUCCESSFUL", "Successful"

    # str() of a choices member is its value (without django-stubs the type
    # checker sees ``Status.X`` as the (value, label) tuple, with no ``.value``).
    FINISHED = (str(Status.SUCCESSFUL), str(Status.FAILED))

    id = models.CharField(primary_key=True, max_length=64)
    task_path = models.CharField(max_length=255, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    backend = models.CharField(max_length=100, help_text="TASKS alias the call was enqueued with.")
    queue_name = models.CharField(max_length=100)
    priority = models.SmallIntegerField(default=0)
    run_after = models.DateTimeField(null=True, blank=True)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    return_value = models.JSONField(null=True, blank=True)
    #: ``[{"exception_class_path": ..., "traceback": ...}, ...]``, one per failed attempt.
    errors = models.JSONField(default=list)
    #: One entry per attempt (Django counts attempts as ``len(worker_ids)``).
    worker_ids = models.JSONField(default=list)
    enqueued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = DjangoTaskResultQuerySet.as_manager()

    class Meta:
        verbose_name = "Django task result"
        indexes = [models.Index(fields=["status", "finished_at"], name="symphra_djres_status_fin")]

    def __str__(self) -> str:
        return f"{self.task_path} ({self.id}): {self.status}"

    @property
    def attempts(self) -> int:
        return len(self.worker_ids)
