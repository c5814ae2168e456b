"""Permission holders of the admin's queue pages (no tables).

Queues and failed tasks live in whichever backend each alias uses (memory,
database, Redis, RabbitMQ, custom), not in a table of this app. These two
unmanaged models exist so the admin can list the pages in the app's section
and so the project can grant their permissions like any model's:

* ``view_queue``: the dashboard and the next due tasks of a queue;
  ``delete_queue``: purge a queue.
* ``view_failedtask``: the failed tasks of every backend;
  ``change_failedtask``: retry them; ``delete_failedtask``: delete them.
"""

from __future__ import annotations

from django.db import models


class Queue(models.Model):
    """A queue of a configured backend alias (permissions only)."""

    class Meta:
        managed = False
        default_permissions = ("view", "delete")
        verbose_name = "queue"


class FailedTask(models.Model):
    """A task in a backend's failed store (permissions only)."""

    class Meta:
        managed = False
        default_permissions = ("view", "change", "delete")
        verbose_name = "failed task"
