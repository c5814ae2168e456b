"""Test databases on the real PostgreSQL and MariaDB servers, made on demand.

pytest-django creates test databases only for aliases named in ``django_db``
markers at collection time; the conformance suite picks its backends through
fixture parameters instead, so the servers' test databases are made here, the
first time a test needs one, and dropped at the end of the run.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import warnings
from collections.abc import Iterator

import django
import pytest
from django.db import DatabaseError, connections

from tests.support import services

# Django < 6.1 serializes a new test database unless told not to; 6.1
# deprecates the argument (and no longer serializes here).
NO_SERIALIZE = {"serialize": False} if django.VERSION < (6, 1) else {}

#: DATABASES alias → the service (tests/support/services.py) it runs on.
SERVER_ALIASES = {"postgresql": "postgresql", "mariadb": "mariadb"}

_prepared: set[str] = set()


def use_database(request: pytest.FixtureRequest, alias: str) -> None:
    """Make ``alias`` usable by the current test, with a flush after it.

    Call from a function-scoped fixture before the test touches the database.
    """
    if alias in SERVER_ALIASES:
        services.require(SERVER_ALIASES[alias])
        if alias not in _prepared:
            blocker = request.getfixturevalue("django_db_blocker")
            with blocker.unblock():
                connections[alias].creation.create_test_db(verbosity=0, autoclobber=True, **NO_SERIALIZE)
            _prepared.add(alias)
            request.config.add_cleanup(lambda: _drop(blocker, alias))
    request.applymarker(
        pytest.mark.django_db(transaction=True, databases=sorted({"default", alias}))
    )
    request.getfixturevalue("transactional_db")


def _drop(blocker: object, alias: str) -> None:
    connection = connections[alias]
    name = connection.settings_dict["NAME"]
    connection.close()
    quoted = connection.ops.quote_name(name)
    try:
        with blocker.unblock():  # type: ignore[attr-defined]
            with connection._nodb_cursor() as cursor:
                # Threads of the tests may still hold sessions on it.
                force = " WITH (FORCE)" if connection.vendor == "postgresql" else ""
                cursor.execute(f"DROP DATABASE IF EXISTS {quoted}{force}")
    except DatabaseError as exc:
        warnings.warn(f"could not drop test database {name!r}: {exc}", stacklevel=1)


def explain(database: str, statement: str, params: list, table: str) -> str:
    """The plan of ``statement`` as text, with fresh statistics of ``table``.

    MySQL's candidate indexes (``possible_keys``) are left out: the plan
    shows the index it uses in ``key``.
    """
    connection = connections[database]
    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {table}")
        elif connection.vendor == "mysql":
            cursor.execute(f"ANALYZE TABLE {table}")
            cursor.fetchall()
        cursor.execute(prefix + statement, params)
        rows = cursor.fetchall()
        columns = [d[0] for d in cursor.description]
    shown = [i for i, name in enumerate(columns) if name != "possible_keys"]
    return "\n".join(" ".join(str(row[i]) for i in shown) for row in rows)


@contextlib.contextmanager
def sqlite_write_lock_held(alias: str, release_after: float | None = None) -> Iterator[None]:
    """Another connection holds SQLite's write lock on ``alias``'s file for the
    block, or only its first ``release_after`` seconds."""
    holder = sqlite3.connect(connections[alias].settings_dict["NAME"], isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    releaser = None if release_after is None else threading.Timer(release_after, holder.rollback)
    if releaser is not None:
        releaser.start()
    try:
        yield
    finally:
        if releaser is not None:
            releaser.join()
        holder.close()


@contextlib.contextmanager
def sqlite_wal_mode(alias: str) -> Iterator[None]:
    """``alias``'s SQLite test database in WAL mode for the block, then back."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=WAL")
    try:
        yield
    finally:
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=DELETE")
