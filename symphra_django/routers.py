"""A database router that keeps the task queue in a database of its own.

The queue table (``QueuedTask``) goes to the database named by the database
backends' ``database`` option, e.g. a dedicated SQLite file next to a
PostgreSQL main database (the Django form of symphra-scheduler's ``db_path``)::

    DATABASES = {
        "default": {"ENGINE": "django.db.backends.postgresql", ...},
        "queue": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "queue.sqlite3",
                  "OPTIONS": {"transaction_mode": "IMMEDIATE",
                              "init_command": "PRAGMA journal_mode=WAL"}},
    }
    DATABASE_ROUTERS = ["symphra_django.routers.QueueRouter"]
    SYMPHRA = {"BACKENDS": {"default": {"BACKEND": "database",
                                        "OPTIONS": {"database": "queue"}}}}

then ``manage.py migrate`` and ``manage.py migrate --database queue``. List it
last in ``DATABASE_ROUTERS``: it answers only for the queue table and keeps
every other table out of a queue-only database.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from symphra_django.backends.database.config import queue_databases

QUEUE_MODEL = ("symphra_django", "queuedtask")


def _is_queue(model: type[Model]) -> bool:
    meta = model._meta
    return (meta.app_label, meta.model_name) == QUEUE_MODEL


class QueueRouter:
    """Routes ``QueuedTask`` to the queue database and its migrations there only."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return queue_databases()[0] if _is_queue(model) and queue_databases() else None

    db_for_write = db_for_read

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        aliases = queue_databases()
        if (app_label, model_name) == QUEUE_MODEL:
            return db in aliases
        if db != "default" and db in aliases:
            # A queue-only database holds the queue table and nothing else.
            return False
        return None
