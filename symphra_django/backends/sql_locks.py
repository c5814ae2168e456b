"""Waiting for a database write lock in short steps, for the backends that
keep their queue or ledger in the project database (the database backend,
the RabbitMQ ledger).

SQLite has one writer at a time, and its busy handler makes a waiting writer
sleep 1, 2, 5, 10, … up to 100 ms between looks at the lock. Under steady
writes (tasks writing their own rows to the same file) a claim or an
acknowledgement of a few hundred microseconds then waited tens of
milliseconds, and a worker killed in that time ran every task it had
finished meanwhile a second time. Around their own statements the backends
turn the handler off and look again every fraction of a millisecond, within
the connection's ``timeout`` option; the project's own statements keep the
handler and the configured timeout.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

T = TypeVar("T")

#: Seconds between two looks at SQLite's write lock (``poll_for_lock``).
LOCK_POLL = 0.0005


def polls_for_locks(connection: BaseDatabaseWrapper) -> bool:
    """Whether ``poll_for_lock`` waits for locks itself on this connection
    (SQLite) rather than leaving it to the engine."""
    return connection.vendor == "sqlite"


def is_lock_error(exc: BaseException) -> bool:
    """Whether a database error says a lock was not granted (SQLite's
    "database is locked", a broken deadlock, MySQL's lock wait timeout)."""
    text = str(exc).lower()
    return "locked" in text or "deadlock" in text or "lock wait timeout" in text


def busy_timeout(connection: BaseDatabaseWrapper) -> float:
    """Seconds a statement may wait for a lock: the connection's ``timeout``
    option (5 s by default, as in Python's sqlite3)."""
    return float(connection.settings_dict.get("OPTIONS", {}).get("timeout", 5.0))


def poll_for_lock(connection: BaseDatabaseWrapper, operation: Callable[[BaseDatabaseWrapper], T]) -> T:
    """Run ``operation(connection)``; on SQLite with the engine's busy handler
    off, retrying a write lock not granted every ~0.5 ms until the
    connection's ``timeout`` is spent. Inside the caller's transaction, or on
    other engines, it just runs: a transaction is its owner's to redo.

    ``operation`` may run several times, so it must be safe to repeat: one
    conditional statement, or a transaction of them."""
    if not polls_for_locks(connection) or connection.in_atomic_block:
        return operation(connection)
    budget = busy_timeout(connection)
    deadline = time.monotonic() + budget
    _set_busy_timeout(connection, 0)
    try:
        while True:
            try:
                return operation(connection)
            except OperationalError as exc:
                if not is_lock_error(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(LOCK_POLL * random.uniform(0.5, 1.5))
    finally:
        if connection.connection is not None:
            _set_busy_timeout(connection, budget)


def _set_busy_timeout(connection: BaseDatabaseWrapper, seconds: float) -> None:
    connection.ensure_connection()
    connection.connection.execute(_busy_timeout_pragma(seconds))


@lru_cache(maxsize=8)
def _busy_timeout_pragma(seconds: float) -> str:
    return f"PRAGMA busy_timeout = {int(seconds * 1000)}"
