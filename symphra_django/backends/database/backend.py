"""The database backend: queues in a Django model, on SQLite, PostgreSQL or MySQL/MariaDB.

This is the default backend: with no ``SYMPHRA`` setting, tasks are stored in
the project's ``default`` database, so a view's ``enqueue`` reaches
``runscheduler`` in another process. Options (``SYMPHRA["BACKENDS"][alias]
["OPTIONS"]``):

``database``
    The ``DATABASES`` alias holding the queue table (default ``"default"``).
    Use :class:`symphra_django.routers.QueueRouter` to keep the table (and its
    migrations) in a database of its own.
``queue_name``, ``lease_seconds``
    As for every backend (see :class:`~symphra_django.backends.base.QueueBackend`).
    ``max_attempts`` is accepted and ignored (check ``symphra_django.W001``).
``keep_history``
    Keep acknowledged tasks as ``done`` rows (default True), queryable with
    ``QueuedTask.objects.history(...)`` and pruned by ``prunetasks``.
``table_name``
    Accepted for symphra-scheduler's settings only when it names the model's table.

Thread safety: every call uses the calling thread's Django connection.
See docs/backends/database.md for engines, indexes and query plans.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from symphra_django.backends.base import QueueBackend, lease_expired_error
from symphra_django.backends.database import claims as sql
from symphra_django.backends.database.inspection import DatabaseInspection
from symphra_django.backends.database.workers import SQLWorkerRegistry
from symphra_django.backends.sql_locks import is_lock_error, poll_for_lock, polls_for_locks
from symphra_django.backends.sqlite_wal import Checkpointer, keeps_a_log
from symphra_django.messages import TaskMessage
from symphra_django.models import QueuedTask
from symphra_django.utils.text import shorten_name

logger = logging.getLogger("symphra_django.backends.database")

T = TypeVar("T")

#: Expired leases handled per claim, so one claim never does unbounded work.
EXPIRED_PER_CLAIM = 100
#: Seconds between two looks for expired leases by claims of one instance:
#: an expired lease comes back at most this late, and a busy worker saves a
#: statement on most claims.
EXPIRY_INTERVAL = 0.05
#: Retries of a statement that found the database locked (SQLite) or deadlocked.
LOCK_RETRIES = 60
MAX_ID_LENGTH = QueuedTask._meta.get_field("id").max_length
_seq_lock = threading.Lock()
_last_seq = 0


def next_seqs(count: int) -> int:
    """Reserve ``count`` enqueue-order numbers; returns the first.

    Nanosecond clock readings, strictly increasing in this process, so that
    enqueue order holds across processes as closely as their clocks agree.
    """
    global _last_seq
    with _seq_lock:
        first = max(_last_seq + 1, time.time_ns())
        _last_seq = first + count - 1
    return first


class DatabaseBackend(DatabaseInspection, SQLWorkerRegistry, QueueBackend):
    """Queues in the ``QueuedTask`` table of a Django database."""

    task_model = "symphra_django.QueuedTask"

    def __init__(
        self,
        *,
        database: str = "default",
        keep_history: bool = True,
        table_name: str | None = None,
        alias: str = "default",
        queue_name: str = "default",
        lease_seconds: float | None = None,
        max_attempts: int | None = None,
    ) -> None:
        super().__init__(
            alias=alias, queue_name=queue_name, lease_seconds=lease_seconds,
            max_attempts=max_attempts,
        )
        if database not in settings.DATABASES:
            raise ValueError(
                f"database {database!r} is not in settings.DATABASES; configured "
                f"aliases are {', '.join(map(repr, settings.DATABASES))}"
            )
        table = QueuedTask._meta.db_table
        if table_name is not None and table_name != table:
            raise ValueError(
                f"table_name {table_name!r} is not supported: the queue lives in the "
                f"QueuedTask model's table {table!r}, created by migrations. To keep "
                "it apart, give it its own database with the 'database' option and "
                "symphra_django.routers.QueueRouter (docs/backends/database.md)."
            )
        self.database = database
        self.database_aliases = (database,)
        self.keep_history = bool(keep_history)
        self._dialect: sql.Dialect | None = None
        self._next_expiry = 0.0
        #: Queues whose last claim came back full (see claims_lock_database).
        self._draining: set[str] = set()
        self._checkpointer = Checkpointer()

    def describe(self) -> str:
        return f"{type(self).__name__}({self.alias}, database={self.database!r})"

    # -- plumbing -------------------------------------------------------------

    @property
    def connection(self) -> BaseDatabaseWrapper:
        return connections[self.database]

    @property
    def dialect(self) -> sql.Dialect:
        if self._dialect is None:
            self._dialect = sql.dialect_for(self.connection)
        return self._dialect

    @property
    def wants_upkeep(self) -> bool:  # type: ignore[override]  # a property over the base's plain attribute
        return keeps_a_log(connections[self.database])

    def upkeep(self) -> float:
        """Fold SQLite's write-ahead log back (``symphra_django.backends.sqlite_wal``)."""
        return self._checkpointer.checkpoint(self.connection)

    def _db_time(self, connection: BaseDatabaseWrapper, epoch: float) -> Any:
        return self.dialect.db_time(connection, epoch)

    def _run(self, operation: Callable[[BaseDatabaseWrapper], T]) -> T:
        """Run ``operation`` on this thread's connection, retrying while the
        database is locked (SQLite) or a deadlock was broken, and once after
        a dropped connection. Inside the caller's transaction nothing is
        retried: the transaction is the caller's to redo."""
        connection = self.connection
        if polls_for_locks(connection) and not connection.in_atomic_block:
            return poll_for_lock(connection, operation)
        delay = 0.002
        reconnected = False
        for attempt in itertools.count():
            connection = self.connection
            try:
                return operation(connection)
            except (OperationalError, InterfaceError) as exc:
                if connection.in_atomic_block:
                    raise
                if is_lock_error(exc) and attempt < LOCK_RETRIES:
                    time.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, 0.5)
                    continue
                if not reconnected and not connection.is_usable():
                    logger.warning(
                        "lost the connection to database %r (%s); reconnecting",
                        self.database, exc,
                    )
                    connection.close()
                    reconnected = True
                    continue
                raise
        raise AssertionError("unreachable")

    # -- producing ------------------------------------------------------------

    def enqueue_sync(
        self,
        task: TaskMessage,
        scheduled_time: datetime | float | None = None,
        priority: int | None = None,
    ) -> bool:
        self.prepare(task, scheduled_time, priority)
        return self._insert([task]) == 1

    def enqueue_many_sync(self, tasks: Iterable[TaskMessage]) -> int:
        unique: dict[str, TaskMessage] = {}
        for task in tasks:
            unique.setdefault(task.id, task)
        return self._insert(list(unique.values()))

    def _insert(self, tasks: Sequence[TaskMessage]) -> int:
        for task in tasks:
            if len(task.id) > MAX_ID_LENGTH:
                raise ValueError(f"task id {task.id[:40]!r}… is longer than {MAX_ID_LENGTH}")
        if not tasks:
            return 0
        dialect = self.dialect
        per_statement = dialect.rows_per_insert()

        def insert(connection: BaseDatabaseWrapper) -> int:
            now = time.time()
            db_now = self._db_time(connection, now)
            first_seq = next_seqs(len(tasks))
            rows = [
                (
                    t.id, t.queue, t.name, sql.READY, t.priority,
                    self._db_time(connection, t.scheduled_time), first_seq + i,
                    t.to_json(), t.attempts, t.max_attempts, db_now, db_now,
                )
                for i, t in enumerate(tasks)
            ]
            added = 0
            with sql.cursor_for(dialect, connection) as cursor:
                for start in range(0, len(rows), per_statement):
                    chunk = rows[start : start + per_statement]
                    cursor.execute(dialect.insert(len(chunk)), [v for row in chunk for v in row])
                    inserted = cursor.rowcount
                    if not dialect.upserts and inserted < len(chunk):
                        # Ids already present: overwrite the done/failed ones.
                        for row in chunk:
                            cursor.execute(dialect.reenqueue(), [*row[1:], row[0]])
                            inserted += cursor.rowcount
                    added += inserted
            return added

        return self._run(insert)

    # -- consuming --------------------------------------------------------------

    def dequeue_sync(
        self,
        max_items: int = 1,
        *,
        queue: str | None = None,
        lease_seconds: float | None = None,
    ) -> list[TaskMessage]:
        if max_items < 1:
            return []
        queue_name = self.queue_for(queue)
        lease = lease_seconds or self.default_lease_seconds
        if time.monotonic() >= self._next_expiry:
            self._expire_leases()
        token = uuid.uuid4().hex
        dialect = self.dialect

        def claim(connection: BaseDatabaseWrapper) -> tuple[float, list[tuple]]:
            now = time.time()
            db_now = self._db_time(connection, now)
            expires = now + lease
            lease_params = [token, self._db_time(connection, expires), db_now]
            with sql.cursor_for(dialect, connection) as cursor:
                if dialect.claims_lock_database and queue_name not in self._draining:
                    cursor.execute(dialect.select_due, [queue_name, db_now, 1])
                    if not cursor.fetchall():
                        return expires, []
                if dialect.claim_returns:
                    cursor.execute(
                        dialect.claim(), [*lease_params, queue_name, db_now, max_items]
                    )
                    return expires, cursor.fetchall()
                with transaction.atomic(using=self.database):
                    cursor.execute(dialect.claim_select(), [queue_name, db_now, max_items])
                    rows = cursor.fetchall()
                    if rows:
                        cursor.execute(
                            dialect.claim_update(len(rows)),
                            [*lease_params, *(row[0] for row in rows)],
                        )
                # The select saw the attempts before the update counted this one.
                return expires, [(r[0], r[1], min(r[2] + 1, sql.MAX_ATTEMPTS_COUNT), r[3]) for r in rows]

        expires, rows = self._run(claim)
        # A full batch: more is likely due, so the next claim skips the look.
        if len(rows) >= max_items:
            self._draining.add(queue_name)
        else:
            self._draining.discard(queue_name)
        tasks: list[tuple[int, TaskMessage]] = []
        for task_id, payload, attempts, seq in rows:
            task = self.decode_stored(payload, (task_id, token), queue=queue_name, task_id=task_id)
            if task is None:
                continue
            task.id, task.queue, task.attempts = task_id, queue_name, attempts
            task.lease_token, task.lease_expires = token, expires
            tasks.append((seq, task))
        # RETURNING gives no order: restore the claim order (C4).
        tasks.sort(key=lambda item: (-item[1].priority, item[1].scheduled_time, item[0]))
        return [task for _, task in tasks]

    def store_unreadable(self, entry: tuple[str, str], error: str) -> None:
        task_id, token = entry
        dialect = self.dialect

        def fail(connection: BaseDatabaseWrapper) -> None:
            db_now = self._db_time(connection, time.time())
            with sql.cursor_for(dialect, connection) as cursor:
                cursor.execute(
                    dialect.fail(held=False),
                    [error, None, db_now, db_now, task_id, token],
                )

        self._run(fail)

    def _expire_leases(self) -> None:
        """Return expired in-flight rows to ready, or fail them when their
        attempts are used up (C6, C7). Cheap when nothing expired: an index
        range scan on (status, lease_expires)."""
        dialect = self.dialect

        def expire(connection: BaseDatabaseWrapper) -> int:
            now = time.time()
            db_now = self._db_time(connection, now)
            with sql.cursor_for(dialect, connection) as cursor:
                cursor.execute(dialect.expired_leases(), [db_now, EXPIRED_PER_CLAIM])
                expired = cursor.fetchall()
                for task_id, token, attempts, max_attempts in expired:
                    message = TaskMessage(
                        name="", id=task_id, attempts=attempts, max_attempts=max_attempts
                    )
                    if self.attempts_exhausted(message):
                        error = lease_expired_error(message)
                        logger.warning("task %s failed: %s", shorten_name(task_id), error)
                        cursor.execute(
                            dialect.fail_expired(), [error, db_now, db_now, task_id, token]
                        )
                    else:
                        cursor.execute(dialect.release_expired(), [db_now, task_id, token])
                return len(expired)

        # A full page means more are waiting: look again at the next claim.
        if self._run(expire) < EXPIRED_PER_CLAIM:
            self._next_expiry = time.monotonic() + EXPIRY_INTERVAL

    def acknowledge_sync(self, task: TaskMessage) -> bool:
        return self.acknowledge_many_sync([task]) == 1

    def acknowledge_many_sync(self, tasks: Iterable[TaskMessage]) -> int:
        by_token: dict[str, list[str]] = {}
        for task in tasks:
            if task.lease_token is not None:
                by_token.setdefault(task.lease_token, []).append(task.id)
        if not by_token:
            return 0
        dialect = self.dialect
        keep = self.keep_history

        def finish(connection: BaseDatabaseWrapper) -> int:
            db_now = self._db_time(connection, time.time())
            done = 0
            with sql.cursor_for(dialect, connection) as cursor:
                for token, ids in by_token.items():
                    params = [token, db_now, *ids]
                    if keep:
                        params = [db_now, db_now, *params]
                    cursor.execute(dialect.finish(len(ids), keep), params)
                    done += cursor.rowcount
            return done

        return self._run(finish)

    def reject_sync(
        self,
        task: TaskMessage,
        requeue: bool = False,
        *,
        delay: float = 0.0,
        error: str | None = None,
        traceback: str | None = None,
    ) -> bool:
        if task.lease_token is None:
            return False
        dialect = self.dialect

        def answer(connection: BaseDatabaseWrapper) -> int:
            now = time.time()
            db_now = self._db_time(connection, now)
            with sql.cursor_for(dialect, connection) as cursor:
                if requeue:
                    due = now + max(0.0, delay)
                    payload = task.copy(scheduled_time=due, error=error, traceback=traceback)
                    cursor.execute(
                        dialect.requeue(),
                        [
                            self._db_time(connection, due), payload.to_json(), error,
                            traceback, db_now, task.id, task.lease_token, db_now,
                        ],
                    )
                else:
                    cursor.execute(
                        dialect.fail(),
                        [error, traceback, db_now, db_now, task.id, task.lease_token, db_now],
                    )
                return cursor.rowcount

        return self._run(answer) == 1

    def extend_lease_sync(self, task: TaskMessage, seconds: float | None = None) -> bool:
        if task.lease_token is None:
            return False
        expires = time.time() + (seconds or self.default_lease_seconds)
        dialect = self.dialect

        def extend(connection: BaseDatabaseWrapper) -> int:
            with sql.cursor_for(dialect, connection) as cursor:
                cursor.execute(
                    dialect.extend(),
                    [
                        self._db_time(connection, expires), task.id, task.lease_token,
                        self._db_time(connection, time.time()),
                    ],
                )
                return cursor.rowcount

        if self._run(extend) != 1:
            return False
        task.lease_expires = expires
        return True


#: symphra-scheduler's name for the same backend.
SQLiteBackend = DatabaseBackend
