"""Durable state of periodic tasks: the tick ledger, pause flag, last outcome."""

from __future__ import annotations

from django.db import models


class ScheduleState(models.Model):
    """One row per periodic task, shared by every scheduler process.

    ``last_tick`` is the exactly-once ledger: a scheduler enqueues a tick only
    if it moves ``last_tick`` forward in one conditional UPDATE, so a slower
    scheduler cannot enqueue a tick that already ran and was acknowledged.
    """

    name = models.CharField(max_length=255, primary_key=True)
    enabled = models.BooleanField(default=True)
    last_tick = models.DateTimeField(null=True, blank=True)
    last_tick_by = models.CharField(
        max_length=255, blank=True, default="", help_text="The scheduler process (host:pid) that enqueued the last tick."
    )
    next_run = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    last_duration = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "symphra_schedule_state"
        verbose_name = "schedule"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
