"""The RabbitMQ backend's ledger: which task ids are queued, in flight or failed.

A broker cannot answer "is this id already queued?" (C2) nor "what state is
this task in?", so the RabbitMQ backend keeps one small row per task that is
not finished yet, in the project's database. The message itself lives in the
broker; the row only says which copy of it is current (``token``) and who
holds it (``claim``). Rows are written in batches (one INSERT per enqueue
batch, one UPDATE per claimed batch, one DELETE per acknowledged batch) and
deleted when the task is acknowledged.
"""

from __future__ import annotations

from django.db import models


class BrokerTask(models.Model):
    """One unfinished (or failed) task of a RabbitMQ backend namespace."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"  # ready or delayed: see scheduled_time
        IN_FLIGHT = "in_flight", "In flight"
        FAILED = "failed", "Failed"

    namespace = models.CharField(max_length=100, help_text="The backend's exchange_name.")
    queue = models.CharField(max_length=100)
    task_id = models.CharField(max_length=255)
    token = models.CharField(max_length=32, help_text="Which published copy is current.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    scheduled_time = models.FloatField(help_text="Due time, epoch seconds (UTC).")
    claim = models.CharField(max_length=32, null=True, blank=True)
    lease_expires = models.FloatField(null=True, blank=True)
    updated_at = models.FloatField()

    class Meta:
        db_table = "symphra_broker_task"
        verbose_name = "RabbitMQ task"
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "queue", "task_id"], name="symphra_broker_task_uniq"
            ),
        ]
        indexes = [
            models.Index(
                fields=["namespace", "queue", "state", "scheduled_time"],
                name="symphra_broker_state_idx",
            ),
            models.Index(fields=["claim"], name="symphra_broker_claim_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.queue}:{self.task_id} ({self.state})"
