"""The backends the benchmark knows, one entry each.

An entry says which servers it needs, the Django ``DATABASES["default"]``
and ``SYMPHRA["BACKENDS"]["default"]`` it runs with, and the raw client
that does the same claim/ack work beside it. Adding a backend is one entry.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Fixed names, so a rerun reuses (and first empties) the same keys, queues and databases.
NAMESPACE = "symphra_bench"
SERVER_DATABASE = "symphra_bench"

#: journal_mode=WAL for concurrent readers and one writer; synchronous=NORMAL:
#: in WAL mode a commit survives a crash of the process (not a power cut)
#: without waiting for an fsync. The raw sqlite3 baseline uses the same.
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")
PG = {"host": "127.0.0.1", "port": 5432, "user": os.environ.get("SYMPHRA_PG_USER", "postgres")}
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
MYSQLDB = {"host": "127.0.0.1", "port": 3306, "user": "root", "passwd": ""}
REDIS_URL = "redis://127.0.0.1:6379/0"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def sqlite_database(bench_dir: str) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(bench_dir, "queue.sqlite3"),
        "OPTIONS": {"timeout": 30, "init_command": "; ".join(SQLITE_PRAGMAS), "transaction_mode": "IMMEDIATE"},
    }


def postgresql_database(bench_dir: str) -> dict[str, Any]:
    return {"ENGINE": "django.db.backends.postgresql", "HOST": PG["host"], "PORT": PG["port"],
            "USER": PG["user"], "NAME": SERVER_DATABASE}


def mariadb_database(bench_dir: str) -> dict[str, Any]:
    return {"ENGINE": "django.db.backends.mysql", "HOST": MARIADB["host"], "PORT": MARIADB["port"],
            "USER": MARIADB["user"], "PASSWORD": MARIADB["password"], "NAME": SERVER_DATABASE,
            "OPTIONS": {"charset": "utf8mb4"}}


def create_postgresql_database() -> None:
    import psycopg

    with psycopg.connect(dbname="test", autocommit=True, **PG) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (SERVER_DATABASE,)).fetchone():
            conn.execute(f"CREATE DATABASE {SERVER_DATABASE}")


def create_mariadb_database() -> None:
    import MySQLdb  # mysqlclient, as Django's MySQL backend (the test extras have it)

    conn = MySQLdb.connect(**MYSQLDB)
    try:
        conn.autocommit(True)
        conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {SERVER_DATABASE} "
                              "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    finally:
        conn.close()


@dataclass(frozen=True)
class Entry:
    name: str
    #: Module of the backend; the entry is skipped while it is not there.
    module: str
    symphra_backend: str
    options: dict[str, Any] = field(default_factory=dict)
    #: (host, port) of each server it needs.
    services: tuple[tuple[str, int], ...] = ()
    database: Callable[[str], dict[str, Any]] = sqlite_database
    #: Creates the server-side database before migrations.
    prepare: Callable[[], None] | None = None
    #: Whether other processes can see its queue (runscheduler subprocesses);
    #: if not, it needs no database tables either.
    shared: bool = True
    #: "module:Class" of the raw driver, and its options for a bench folder.
    raw: str | None = None
    raw_options: Callable[[str], dict[str, Any]] | None = None

    def symphra(self) -> dict[str, Any]:
        return {"BACKEND": self.symphra_backend, "OPTIONS": dict(self.options)}

    def unavailable(self) -> str | None:
        """Why this entry cannot run here, or None."""
        if importlib.util.find_spec(self.module) is None:
            return f"{self.module} is not there yet"
        for host, port in self.services:
            try:
                socket.create_connection((host, port), timeout=1).close()
            except OSError as exc:
                return f"no server at {host}:{port} ({exc.strerror or exc})"
        return None

    def raw_driver(self, bench_dir: str) -> Any:
        module, _, cls = self.raw.partition(":")
        driver_class = getattr(importlib.import_module(module), cls)
        return driver_class, self.raw_options(bench_dir)


BACKENDS: dict[str, Entry] = {
    entry.name: entry
    for entry in (
        Entry("memory", "symphra_django.backends.memory", "memory", shared=False),
        Entry("sqlite", "symphra_django.backends.database.backend", "database",
              raw="benchmarks.raw_sql:SQLiteDriver",
              raw_options=lambda d: {"table": "raw_queue", "path": os.path.join(d, "raw.sqlite3"),
                                     "pragmas": SQLITE_PRAGMAS}),
        Entry("postgresql", "symphra_django.backends.database.backend", "database",
              services=(("127.0.0.1", 5432),), database=postgresql_database, prepare=create_postgresql_database,
              raw="benchmarks.raw_sql:PostgreSQLDriver",
              raw_options=lambda d: {"table": "raw_queue", "dbname": SERVER_DATABASE, **PG}),
        Entry("mariadb", "symphra_django.backends.database.backend", "database",
              services=(("127.0.0.1", 3306),), database=mariadb_database, prepare=create_mariadb_database,
              raw="benchmarks.raw_sql:MariaDBDriver",
              raw_options=lambda d: {"table": "raw_queue", "database": SERVER_DATABASE, **MYSQLDB}),
        Entry("redis", "symphra_django.backends.redis.backend", "redis",
              options={"url": REDIS_URL, "key_prefix": NAMESPACE}, services=(("127.0.0.1", 6379),),
              raw="benchmarks.raw_redis:RedisDriver",
              raw_options=lambda d: {"url": REDIS_URL, "prefix": f"{NAMESPACE}_raw"}),
        Entry("rabbitmq", "symphra_django.backends.rabbitmq.backend", "rabbitmq",
              options={"url": AMQP_URL, "exchange_name": NAMESPACE}, services=(("127.0.0.1", 5672),),
              raw="benchmarks.raw_pika:PikaDriver",
              raw_options=lambda d: {"url": AMQP_URL, "queue": f"{NAMESPACE}_raw"}),
    )
}
