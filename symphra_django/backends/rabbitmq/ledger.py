"""The RabbitMQ backend's task ledger in the project database (``BrokerTask``).

Every state change is one conditional statement, so two processes never both
win: enqueue inserts (a duplicate id is refused by the unique constraint, C2),
a claim moves ``queued`` → ``in_flight`` for the exact published copy
(``token``) and stamps a batch ``claim`` id, and acknowledge/reject/lease
expiry only touch a row that still carries the caller's claim. A broker
message whose row is gone or does not match is a stale copy and is dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

from django.db import IntegrityError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, Min, Q

from symphra_django.backends.rabbitmq.ledger_sql import INSERT_FIELDS, LedgerSQL
from symphra_django.backends.sql_locks import poll_for_lock
from symphra_django.models import BrokerTask

# str() of a choices member is its value (``.value`` would be the same, but
# without django-stubs the type checker sees the (value, label) tuple).
QUEUED = str(BrokerTask.State.QUEUED)
IN_FLIGHT = str(BrokerTask.State.IN_FLIGHT)
FAILED = str(BrokerTask.State.FAILED)

T = TypeVar("T")


class Counts(TypedDict):
    """A queue's counts, the fields of :class:`~symphra_django.messages.QueueStats`."""

    ready: int
    delayed: int
    in_flight: int
    failed: int
    oldest_due: float | None


@dataclass(frozen=True)
class Entry:
    task_id: str
    token: str
    scheduled_time: float = 0.0


class _Job:
    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[], Any]) -> None:
        self.work = work
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    """Runs the writes of several threads in one transaction: one commit (one
    fsync) for every claim and acknowledgement that arrived meanwhile, and
    none of its own for a write that arrived alone.

    Each write is one conditional statement, so batching changes no outcome;
    it also keeps this process's writers from fighting over SQLite's single
    write lock. Waiting for that lock takes short steps (``sql_locks``):
    SQLite's own busy handler sleeps up to 100 ms, a window in which a killed
    worker's finished tasks stay unacknowledged.
    """

    def __init__(self, database: str) -> None:
        self.database = database
        self._mutex = threading.Lock()
        self._writer = threading.Lock()
        self._queue: list[_Job] = []

    def run(self, work: Callable[[], T]) -> T:
        if connections[self.database].in_atomic_block:
            return work()  # the caller's transaction decides
        job = _Job(work)
        with self._mutex:
            self._queue.append(job)
        with self._writer:
            if not job.done:
                with self._mutex:
                    batch, self._queue = self._queue, []
                try:
                    poll_for_lock(connections[self.database], lambda _connection: self._write(batch))
                except BaseException as exc:  # noqa: BLE001 - every writer of the batch hears it
                    for item in batch:
                        item.error = exc
                for item in batch:
                    item.done = True
        if job.error is not None:
            raise job.error
        return job.result

    def _write(self, batch: list[_Job]) -> None:
        # Run again whole if SQLite's write lock was not granted: each job is
        # one conditional statement (or a few), so a repeat changes no outcome.
        if len(batch) == 1:
            # A lone writer needs no transaction: its statements commit one
            # by one, sparing a BEGIN and a COMMIT.
            batch[0].result = batch[0].work()
        else:
            with transaction.atomic(using=self.database):
                for item in batch:
                    item.result = item.work()


class Ledger:
    def __init__(self, namespace: str, database: str) -> None:
        self.namespace = namespace
        self.database = database
        self._commit = GroupCommit(database)
        self._sql: LedgerSQL | None = None

    @property
    def sql(self) -> LedgerSQL:
        """The hot statements, built for this database's connection once."""
        if self._sql is None:
            self._sql = LedgerSQL(connections[self.database])
        return self._sql

    def in_transaction(self) -> bool:
        return connections[self.database].in_atomic_block

    def _rows(self, queue: str):
        return BrokerTask.objects.using(self.database).filter(namespace=self.namespace, queue=queue)

    def add(self, queue: str, entries: list[Entry]) -> list[Entry]:
        """Record new tasks; returns those accepted (ids not queued or in flight).

        A failed task's id may be enqueued again: its row is taken over.
        """
        if not entries:
            return []
        now = time.time()
        sql = self.sql

        def insert(connection: BaseDatabaseWrapper) -> list[Entry]:
            # Safe to run again after a lock error: a row this call already
            # wrote holds its token, so it reads as accepted the second time.
            accepted: list[Entry] = []
            refused: list[Entry] = []
            with connection.cursor() as cursor:
                for chunk in sql.chunks(entries, len(INSERT_FIELDS)):
                    cursor.execute(sql.insert(len(chunk)), [
                        value for e in chunk
                        for value in (self.namespace, queue, e.task_id, e.token, QUEUED, e.scheduled_time, now)
                    ])
                    if cursor.rowcount == len(chunk):
                        accepted.extend(chunk)  # no id existed: every row is ours
                        continue
                    # Which rows were skipped: those whose row holds another token.
                    # (An insert's chunk has fewer ids than one statement takes.)
                    cursor.execute(sql.tokens(len(chunk)), [self.namespace, queue, *(e.task_id for e in chunk)])
                    current = dict(cursor.fetchall())
                    for entry in chunk:
                        (accepted if current.get(entry.task_id) == entry.token else refused).append(entry)
            for entry in refused:
                if self._rows(queue).filter(task_id=entry.task_id, state=FAILED).update(
                    token=entry.token, state=QUEUED, scheduled_time=entry.scheduled_time,
                    claim=None, lease_expires=None, updated_at=now,
                ):
                    accepted.append(entry)
            return accepted

        # The producer's insert waits for the workers' claims and
        # acknowledgements on SQLite's lock: in short steps, not in SQLite's
        # busy handler, whose first sleep alone (1 ms) was the 99th
        # percentile of a task's start lateness.
        return poll_for_lock(connections[self.database], insert)

    def forget(self, queue: str, entries: Iterable[Entry]) -> None:
        """Undo ``add`` for tasks whose publish failed."""
        for entry in entries:
            self._rows(queue).filter(task_id=entry.task_id, token=entry.token, state=QUEUED).delete()

    def claim(self, queue: str, entries: list[Entry], claim: str, lease_expires: float) -> set[str]:
        """Move the current copies among ``entries`` to in flight under ``claim``."""
        if not entries:
            return set()
        sql = self.sql

        def claim_rows() -> set[str]:
            updated = 0
            with connections[self.database].cursor() as cursor:
                for chunk in sql.chunks(entries, 2, fixed=5):
                    cursor.execute(sql.claim(len(chunk)), [
                        claim, lease_expires, time.time(), self.namespace, queue,
                        *(e.task_id for e in chunk), *(e.token for e in chunk),
                    ])
                    updated += cursor.rowcount
                if updated == len(entries):
                    return {e.task_id for e in entries}
                cursor.execute(sql.claimed(), [claim])
                return {row[0] for row in cursor.fetchall()}

        return self._commit.run(claim_rows)

    def reclaim(self, queue: str, entry: Entry, claim: str, lease_expires: float) -> str | None:
        """Claim a copy the broker redelivered (its consumer died).

        Returns the state the row was in (``queued``: never handed out;
        ``in_flight``: the dead consumer held it) or None for a stale copy.
        """
        # Read, then a write conditional on what was read (never a read that
        # upgrades to a write inside one transaction: SQLite fails those at
        # once with "database is locked").
        row = (
            self._rows(queue).filter(task_id=entry.task_id, token=entry.token)
            .exclude(state=FAILED).values_list("state", "claim").first()
        )
        if row is None:
            return None
        rows = self._rows(queue).filter(task_id=entry.task_id, token=entry.token, state=row[0], claim=row[1])
        updated = self._commit.run(lambda: rows.update(
            state=IN_FLIGHT, claim=claim, lease_expires=lease_expires, updated_at=time.time()
        ))
        return row[0] if updated else None

    def release(self, queue: str, task_id: str, claim: str, scheduled_time: float) -> bool:
        """An in-flight task goes back to the queue (requeue or lease expiry)."""
        rows = self._rows(queue).filter(task_id=task_id, claim=claim, state=IN_FLIGHT)
        return bool(self._commit.run(lambda: rows.update(
            state=QUEUED, claim=None, lease_expires=None, scheduled_time=scheduled_time, updated_at=time.time(),
        )))

    def fail(self, queue: str, task_id: str, claim: str | None) -> bool:
        rows = self._rows(queue).filter(task_id=task_id).exclude(state=FAILED)
        if claim is not None:
            rows = rows.filter(claim=claim)
        return bool(self._commit.run(
            lambda: rows.update(state=FAILED, claim=None, lease_expires=None, updated_at=time.time())
        ))

    def record_failed(self, queue: str, entry: Entry, *, replacing: str | None = None) -> bool:
        """A failed row for a message that had none (unreadable or foreign).

        The id may already have a row: with ``replacing`` (the token of the
        copy being failed) that copy's row becomes the failed one; any other
        row (another task's, or another copy's) is left alone and False is
        returned, so that a message can never fail a task it merely names.
        """
        try:
            with transaction.atomic(using=self.database):
                BrokerTask.objects.using(self.database).create(
                    namespace=self.namespace, queue=queue, task_id=entry.task_id,
                    token=entry.token, state=FAILED, scheduled_time=entry.scheduled_time,
                    updated_at=time.time(),
                )
            return True
        except IntegrityError:
            if replacing is None:
                return False
            return bool(self._rows(queue).filter(task_id=entry.task_id, token=replacing).update(
                token=entry.token, state=FAILED, claim=None, lease_expires=None, updated_at=time.time()
            ))

    def finish(self, queue: str, task_ids: list[str], claims: set[str]) -> int:
        """Delete the rows of acknowledged tasks still held under ``claims``."""
        if not task_ids:
            return 0
        sql = self.sql
        held = sorted(claims)

        def delete_rows() -> int:
            deleted = 0
            with connections[self.database].cursor() as cursor:
                for chunk in sql.chunks(task_ids, 1, fixed=2 + len(held)):
                    cursor.execute(sql.finish(len(chunk), len(held)), [self.namespace, queue, *chunk, *held])
                    deleted += cursor.rowcount
            return deleted

        return self._commit.run(delete_rows)

    def extend(self, queue: str, task_id: str, claim: str, lease_expires: float) -> bool:
        rows = self._rows(queue).filter(task_id=task_id, claim=claim, state=IN_FLIGHT)
        return bool(self._commit.run(lambda: rows.update(lease_expires=lease_expires, updated_at=time.time())))

    # -- inspecting ----------------------------------------------------------------

    def state_and_lease(self, queue: str, entry: Entry) -> tuple[str, float | None] | None:
        """(state, lease deadline) of the row of this exact copy, or None."""
        return (
            self._rows(queue).filter(task_id=entry.task_id, token=entry.token)
            .values_list("state", "lease_expires").first()
        )

    def state_of(self, queue: str, task_id: str, now: float) -> tuple[str, float] | None:
        """(state, due time); an in-flight task whose lease ran out counts as
        queued: its holder is gone and the broker hands it out again."""
        row = self._rows(queue).filter(task_id=task_id).values_list("state", "scheduled_time", "lease_expires").first()
        if row is None:
            return None
        state, scheduled_time, lease_expires = row
        if state == IN_FLIGHT and lease_expires is not None and lease_expires <= now:
            return QUEUED, scheduled_time
        return state, scheduled_time

    def _due(self, queue: str, now: float):
        return self._rows(queue).filter(
            Q(state=QUEUED, scheduled_time__lte=now) | Q(state=IN_FLIGHT, lease_expires__lte=now)
        )

    def counts(self, queue: str, now: float) -> Counts:
        by_state = dict(self._rows(queue).values_list("state").annotate(n=Count("pk")).values_list("state", "n"))
        due = self._due(queue, now).aggregate(
            n=Count("pk"), expired=Count("pk", filter=Q(state=IN_FLIGHT)), oldest=Min("scheduled_time")
        )
        return {
            "ready": due["n"],
            "delayed": by_state.get(QUEUED, 0) - (due["n"] - due["expired"]),
            "in_flight": by_state.get(IN_FLIGHT, 0) - due["expired"],
            "failed": by_state.get(FAILED, 0),
            "oldest_due": due["oldest"],
        }

    def due_count(self, queue: str, now: float) -> int:
        return self._due(queue, now).count()

    def queue_names(self) -> list[str]:
        return sorted(
            BrokerTask.objects.using(self.database).filter(namespace=self.namespace)
            .values_list("queue", flat=True).distinct()
        )

    def clear(self, queue: str) -> int:
        deleted, _ = self._rows(queue).exclude(state=FAILED).delete()
        return deleted

    # -- the failed store -------------------------------------------------------------

    def failed_tokens(self, queue: str) -> dict[str, str]:
        return dict(self._rows(queue).filter(state=FAILED).values_list("task_id", "token"))

    def holds_unfailed_copy(self, queue: str, task_id: str, token: str) -> bool:
        """Whether ``token`` is the current copy of ``task_id`` and its row is
        not (yet) failed: a task being failed publishes its failed copy
        before its row says so."""
        return self._rows(queue).filter(task_id=task_id, token=token).exclude(state=FAILED).exists()

    def requeue_failed(self, queue: str, task_id: str, token: str, scheduled_time: float) -> bool:
        return bool(
            self._rows(queue).filter(task_id=task_id, token=token, state=FAILED).update(
                state=QUEUED, scheduled_time=scheduled_time, updated_at=time.time()
            )
        )

    def delete_failed(self, queue: str, task_id: str, token: str) -> bool:
        deleted, _ = self._rows(queue).filter(task_id=task_id, token=token, state=FAILED).delete()
        return bool(deleted)
