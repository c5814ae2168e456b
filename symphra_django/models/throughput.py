"""Tasks finished per minute, per backend alias and queue (the admin's chart).

Workers count in memory and add their counts here every few seconds
(:mod:`symphra_django.runtime.throughput`), so one row per alias, queue and minute
costs one write per flush, never one per task.
"""

from __future__ import annotations

from django.db import models


class ThroughputMinute(models.Model):
    alias = models.CharField(max_length=100)
    queue = models.CharField(max_length=100)
    minute = models.DateTimeField(help_text="Start of the minute (UTC).")
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0, help_text="Runs that raised (retried or not).")

    class Meta:
        db_table = "symphra_throughput_minute"
        verbose_name = "throughput minute"
        constraints = [
            models.UniqueConstraint(fields=["alias", "queue", "minute"], name="symphra_throughput_uniq"),
        ]
        indexes = [models.Index(fields=["minute"], name="symphra_throughput_minute_idx")]

    def __str__(self) -> str:
        return f"{self.alias}/{self.queue} {self.minute:%Y-%m-%d %H:%M}"
