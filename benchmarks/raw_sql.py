"""Raw DB-API baselines: plain sqlite3, psycopg and mysqlclient doing the database
backend's claim/ack work on a table of their own, without Django or the app.

Claim: one ``UPDATE … WHERE id IN (SELECT … ORDER BY … LIMIT n [FOR UPDATE
SKIP LOCKED]) RETURNING`` (SQLite, PostgreSQL), or ``SELECT … FOR UPDATE SKIP
LOCKED`` then ``UPDATE`` in one transaction (MariaDB). Ack: one ``UPDATE`` of
the batch to ``done`` (the app keeps history by default).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

#: MySQL/MariaDB error code of a transaction chosen as a deadlock victim.
DEADLOCK = 1213
COLUMNS = "id, queue, status, priority, scheduled_time, seq, payload, attempts"
SCHEMA = (
    "CREATE TABLE {table} (id VARCHAR(64) PRIMARY KEY, queue VARCHAR(100) NOT NULL, "
    "status VARCHAR(16) NOT NULL, priority INTEGER NOT NULL, scheduled_time DOUBLE PRECISION NOT NULL, "
    "seq BIGINT NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL, "
    "lease_token VARCHAR(64), lease_expires DOUBLE PRECISION)"
)
INDEX = "CREATE INDEX {table}_claim ON {table} (queue, status, priority DESC, scheduled_time, seq)"
SELECT_DUE = (
    "SELECT {fields} FROM {table} WHERE queue = 'default' AND status = 'ready' AND scheduled_time <= {p} "
    "ORDER BY priority DESC, scheduled_time, seq LIMIT {p}{lock}"
)
LEASE = "status = 'in_flight', attempts = attempts + 1, lease_token = {p}, lease_expires = {p}"


class SQLDriver:
    """One raw connection to a queue table named ``table``."""

    placeholder = "%s"
    lock = " FOR UPDATE SKIP LOCKED"
    returning = True

    def __init__(self, table: str, **connect: Any) -> None:
        self.table = table
        self.connect_options = connect
        self.conn: Any = None
        self.seq = 0
        p, t = self.placeholder, table
        self.insert_one = f"INSERT INTO {t} ({COLUMNS}) VALUES ({', '.join([p] * 8)})"
        self.select = SELECT_DUE.format(fields="id, payload", table=t, p=p, lock=self.lock)
        self.claim_sql = (
            f"UPDATE {t} SET {LEASE.format(p=p)} WHERE id IN "
            f"({SELECT_DUE.format(fields='id', table=t, p=p, lock=self.lock)}) RETURNING id, payload"
        )

    def open(self) -> Any:
        raise NotImplementedError

    def connect(self) -> None:
        self.conn = self.open()

    def close(self) -> None:
        self.conn.close()

    def execute(self, sql: str, params: Any = ()) -> Any:
        cursor = self.conn.cursor()
        cursor.execute(sql, params)
        return cursor

    def create(self) -> None:
        self.connect()
        self.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.execute(SCHEMA.format(table=self.table))
        self.execute(INDEX.format(table=self.table))
        self.close()

    def drop(self) -> None:
        self.connect()
        self.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.close()

    def _row(self, body: str) -> tuple:
        self.seq += 1
        return (uuid.uuid4().hex, "default", "ready", 0, time.time(), time.time_ns() + self.seq, body, 0)

    def enqueue_one(self, body: str) -> None:
        self.execute(self.insert_one, self._row(body))  # autocommit: durable on return

    def enqueue_many(self, bodies: list[str]) -> None:
        rows = [self._row(body) for body in bodies]
        values = ", ".join(["(" + ", ".join([self.placeholder] * 8) + ")"] * len(rows))
        self.execute(f"INSERT INTO {self.table} ({COLUMNS}) VALUES {values}", [v for row in rows for v in row])

    def claim(self, n: int) -> list[tuple[str, str]]:
        now = time.time()
        token = uuid.uuid4().hex
        if self.returning:
            return self.execute(self.claim_sql, (token, now + 60, now, n)).fetchall()
        self.execute("BEGIN")
        rows = self.execute(self.select, (now, n)).fetchall()
        if rows:
            marks = ", ".join([self.placeholder] * len(rows))
            self.execute(f"UPDATE {self.table} SET {LEASE.format(p=self.placeholder)} WHERE id IN ({marks})",
                         (token, now + 60, *(row[0] for row in rows)))
        self.execute("COMMIT")
        return rows

    def ack(self, ids: list[str]) -> None:
        marks = ", ".join([self.placeholder] * len(ids))
        self.execute(f"UPDATE {self.table} SET status = 'done', lease_token = NULL, lease_expires = NULL "
                     f"WHERE status = 'in_flight' AND id IN ({marks})", ids)


class SQLiteDriver(SQLDriver):
    """Plain sqlite3 in autocommit mode, WAL, with the benchmark's pragmas."""

    placeholder = "?"
    lock = ""

    def open(self) -> Any:
        import sqlite3

        conn = sqlite3.connect(self.connect_options["path"], timeout=30, isolation_level=None)
        for pragma in self.connect_options["pragmas"]:
            conn.execute(pragma)
        return conn


class PostgreSQLDriver(SQLDriver):
    def open(self) -> Any:
        import psycopg

        return psycopg.connect(autocommit=True, **self.connect_options)


class MariaDBDriver(SQLDriver):
    """mysqlclient, the driver Django's MySQL backend uses."""

    returning = False

    def open(self) -> Any:
        import MySQLdb

        conn = MySQLdb.connect(**self.connect_options)
        conn.autocommit(True)
        return conn

    def claim(self, n: int) -> list[tuple[str, str]]:
        # InnoDB may break a deadlock between two claimers' gap locks: retry,
        # as the app's backend does.
        while True:
            try:
                return super().claim(n)
            except Exception as exc:
                if getattr(exc, "args", (None,))[0] != DEADLOCK:
                    raise
                self.execute("ROLLBACK")

    def ack(self, ids: list[str]) -> None:
        while True:
            try:
                return super().ack(ids)
            except Exception as exc:
                if getattr(exc, "args", (None,))[0] != DEADLOCK:
                    raise
