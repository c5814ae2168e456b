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

    def inject_corrupt(self, backend: QueueBackend, queue: str, raw: bytes) -> bytes | str:
        now = model_datetime(time.time() - 1)
        task_id = f"corrupt-{self.namespace}"
        # PostgreSQL and MariaDB refuse text that is not UTF-8: store what a
        # reader would see there.
        text = raw.decode("utf-8", "replace")
        QueuedTask.objects.using(self.database).create(
            id=task_id, queue=queue, task_name="<unknown>",
            scheduled_time=now, payload=text, created_at=now, updated_at=now,
        )
        connection = connections[self.database]
        if connection.vendor != "sqlite":
            return text
        # SQLite keeps any bytes in a TEXT column, as a foreign writer (or a
        # damaged file) may leave them.
        table = connection.ops.quote_name(QueuedTask._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET payload = CAST(%s AS TEXT) WHERE id = %s", [raw, task_id])
        return raw

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
