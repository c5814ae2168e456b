"""The worker registry of the backends that keep state in a Django database
(database, RabbitMQ), and the permissions of the admin's Workers page.

One row per ``runscheduler`` process and backend alias, rewritten every
heartbeat interval (never per task). ``record`` is the process's own JSON
description (:class:`~symphra_django.backends.workers.WorkerRecord`), read
back as untrusted text. Rows whose ``expires_at`` has passed are deleted by
the next write or listing of that alias.

Permissions: ``view_worker`` shows the Workers page; ``stop_worker`` asks a
worker to stop accepting work.
"""

from __future__ import annotations

from django.db import models


class Worker(models.Model):
    """One ``runscheduler`` process's last heartbeat on one backend alias."""

    backend = models.CharField(max_length=100, help_text="The backend alias the process works for.")
    worker_id = models.CharField(max_length=255, help_text="host:pid")
    record = models.TextField(help_text="What the process says about itself (JSON).")
    heartbeat_at = models.FloatField(help_text="Last heartbeat, epoch seconds (UTC).")
    expires_at = models.FloatField(help_text="The row is deleted after this time (epoch seconds).")
    stop_requested = models.BooleanField(default=False)

    class Meta:
        db_table = "symphra_worker"
        verbose_name = "worker"
        default_permissions = ("view",)
        permissions = [("stop_worker", "Can ask a worker to stop accepting work")]
        constraints = [
            models.UniqueConstraint(fields=["backend", "worker_id"], name="symphra_worker_uniq"),
        ]
        indexes = [models.Index(fields=["backend", "expires_at"], name="symphra_worker_expires_idx")]

    def __str__(self) -> str:
        return f"{self.backend}/{self.worker_id}"
