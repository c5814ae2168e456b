"""Conformance factories of the database backend: SQLite, PostgreSQL, MariaDB.

Each makes backends on one ``DATABASES`` alias; the test's flush (a
transactional test) leaves every test with an empty queue table.
"""

from __future__ import annotations

import time

import pytest
from django.db import connections

from symphra_django.backends import QueueBackend
from symphra_django.backends.database.backend import DatabaseBackend
from symphra_django.backends.database.times import model_datetime
from symphra_django.models import QueuedTask
from tests.support.databases import use_database

from .factories import BackendFactory


class DatabaseFactory(BackendFactory):
    database = "default"
    databases: str | set[str] | None = {"default"}

    def prepare(self, request: pytest.FixtureRequest) -> None:
        use_database(request, self.database)

    def build(self, **options: object) -> QueueBackend:
        return DatabaseBackend(alias="conformance", database=self.database, **options)

    def inject_corrupt(self, backend: QueueBackend, queue: str, raw: bytes) -> None:
        # A text column cannot hold invalid UTF-8: store what a reader would see.
        now = model_datetime(time.time() - 1)
        QueuedTask.objects.using(self.database).create(
            id=f"corrupt-{self.namespace}", queue=queue, task_name="<unknown>",
            scheduled_time=now, payload=raw.decode("utf-8", "replace"),
            created_at=now, updated_at=now,
        )

    def teardown(self) -> None:
        super().teardown()
        # Connections opened by the suite's consumer threads are not the
        # test's; close this thread's too so the flush starts clean.
        connections[self.database].close_if_unusable_or_obsolete()


class SQLiteFactory(DatabaseFactory):
    database = "default"


class PostgreSQLFactory(DatabaseFactory):
    database = "postgresql"
    databases = {"default", "postgresql"}
    services = ("postgresql",)


class MariaDBFactory(DatabaseFactory):
    database = "mariadb"
    databases = {"default", "mariadb"}
    services = ("mariadb",)
