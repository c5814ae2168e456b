"""Conformance factories of the database backend: SQLite, PostgreSQL, MariaDB.

Each makes backends on one ``DATABASES`` alias; the test's flush (a
transactional test) leaves every test with an empty queue table.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from django.db import connections

from symphra_django.backends import QueueBackend
from symphra_django.backends.database.backend import DatabaseBackend
from symphra_django.backends.database.times import model_datetime
from symphra_django.messages import TaskMessage
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

    def _insert_row(self, backend: QueueBackend, queue: str, payload: object, **columns: object) -> str:
        """One row written with plain SQL, as another program sharing the
        database would: no model, no backend code."""
        connection = connections[self.database]
        now = time.time() - 1
        row: dict[str, object] = {
            "id": self.raw_id(), "queue": queue, "task_name": "<unknown>", "status": "ready",
            "priority": 0, "scheduled_time": model_datetime(now), "seq": time.time_ns(),
            "payload": payload, "attempts": 0, "max_attempts": 1,
            "created_at": model_datetime(now), "updated_at": model_datetime(now),
        }
        row.update(columns)
        fields = {f.name: f for f in QueuedTask._meta.concrete_fields}
        quote = connection.ops.quote_name
        names = ", ".join(quote(fields[name].column) for name in row)
        values = [
            connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value
            for value in row.values()
        ]
        # SQLite keeps any bytes in a TEXT column, as a foreign writer (or a
        # damaged file) may leave them: the payload goes in cast to TEXT.
        marks = ", ".join(
            "CAST(%s AS TEXT)" if name == "payload" and isinstance(value, bytes) else "%s"
            for name, value in row.items()
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(QueuedTask._meta.db_table)} ({names}) VALUES ({marks})", values
            )
        return str(row["id"])

    def inject_corrupt(self, backend: QueueBackend, queue: str, raw: bytes) -> bytes | str:
        if connections[self.database].vendor == "sqlite":
            self._insert_row(backend, queue, raw)
            return raw
        # PostgreSQL and MariaDB refuse text that is not UTF-8 (and
        # PostgreSQL a NUL character): store what a reader would see there.
        text = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
        self._insert_row(backend, queue, text)
        return text

    def inject_forged(self, backend: QueueBackend, queue: str, task: TaskMessage) -> None:
        # Columns that disagree with the payload and with each other: a
        # priority no message may have, a lease token on a ready row, and
        # attempts at the top of the column's range (one more overflows it).
        self._insert_row(
            backend, queue, task.to_json(), id=task.id, task_name=task.name,
            priority=32767, lease_token="forged", attempts=2**31 - 1, max_attempts=2**31 - 1,
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
