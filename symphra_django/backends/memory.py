"""An in-process queue: for tests, development and single-process use.

It keeps the whole contract (leases, priorities, delays, the failed store) but
nothing survives the process, and another process cannot see it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from symphra_django.backends.base import Listeners, QueueBackend, Wakeable, lease_expired_error
from symphra_django.backends.deadlines import Deadlines
from symphra_django.backends.workers import StoredWorker
from symphra_django.exceptions import CorruptPayload
from symphra_django.messages import (
    DELAYED,
    FAILED,
    IN_FLIGHT,
    READY,
    QueueStats,
    TaskMessage,
    corrupt_message,
    new_task_id,
)

_Entry = tuple[int, float, int, str]


class _Ready:
    """Due tasks as (-priority, scheduled_time, seq, id), taken smallest first.

    Nearly every task arrives in that order (due now, same priority, next
    in sequence): those join a first-in-first-out lane per priority, and
    only the others go to a heap. Taking from a lane costs a tenth of a
    heap's pop over tens of thousands of tasks.
    """

    __slots__ = ("count", "heap", "lanes")

    def __init__(self) -> None:
        #: -priority → entries in order; only lanes that hold some.
        self.lanes: dict[int, deque[_Entry]] = {}
        self.heap: list[_Entry] = []
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def push(self, entry: _Entry) -> None:
        self.count += 1
        lane = self.lanes.get(entry[0])
        if lane is None:
            self.lanes[entry[0]] = deque((entry,))
        elif lane[-1] <= entry:
            lane.append(entry)
        else:
            heapq.heappush(self.heap, entry)

    def pop(self) -> _Entry:
        """The smallest entry (IndexError if there is none)."""
        heap, lanes = self.heap, self.lanes
        if lanes:
            key = min(lanes) if len(lanes) > 1 else next(iter(lanes))
            lane = lanes[key]
            if not heap or lane[0] <= heap[0]:
                entry = lane.popleft()
                if not lane:
                    del lanes[key]
                self.count -= 1
                return entry
        entry = heapq.heappop(heap)
        self.count -= 1
        return entry


@dataclass
class _Queue:
    pending: dict[str, tuple[int, TaskMessage]] = field(default_factory=dict)
    ready: _Ready = field(default_factory=_Ready)
    # (scheduled_time, seq, id): tasks not yet due.
    delayed: list[tuple[float, int, str]] = field(default_factory=list)
    in_flight: dict[str, TaskMessage] = field(default_factory=dict)
    # In-flight task ids by lease deadline.
    leases: Deadlines[str] = field(default_factory=Deadlines)
    failed: dict[str, TaskMessage] = field(default_factory=dict)


@dataclass
class _WorkerEntry:
    record: str
    expires: float
    stop: bool = False


#: Worker records one memory backend keeps at most.
WORKERS_KEPT = 1000


def _shown(task: TaskMessage, queue: str) -> TaskMessage:
    """A copy for a reader (peek, the failed store), or a stand-in if invalid."""
    try:
        return task.copy()
    except CorruptPayload as exc:
        stand_in = corrupt_message(repr(task)[:1000], str(exc), queue=queue, task_id=str(task.id))
        stand_in.error = task.error if isinstance(task.error, str) else stand_in.error
        return stand_in


class MemoryBackend(QueueBackend):
    """Thread-safe queues held in this process's memory.

    ``clock`` (epoch seconds, ``time.time`` by default) is what due times and
    lease deadlines are compared with; tests pass one they can move forward
    instead of sleeping until a lease runs out or a retry falls due.
    """

    durable = False
    shared = False
    acknowledges_in_process = True

    def __init__(self, *, clock: Callable[[], float] = time.time, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self._clock = clock
        self._lock = threading.Lock()
        self._queues: dict[str, _Queue] = {}
        self._seq = itertools.count()
        self._listeners = Listeners()
        self._workers: dict[str, _WorkerEntry] = {}

    def add_listener(self, event: Wakeable) -> None:
        self._listeners.add(event)

    def remove_listener(self, event: Wakeable) -> None:
        self._listeners.remove(event)

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = _Queue()
        return queue

    # Stored copies are separate objects so that a caller mutating a message
    # it holds cannot change what the queue holds (as with a real server).
    def _push(self, q: _Queue, task: TaskMessage, now: float) -> None:
        seq = next(self._seq)
        q.pending[task.id] = (seq, task)
        if task.scheduled_time <= now:
            q.ready.push((-task.priority, task.scheduled_time, seq, task.id))
        else:
            heapq.heappush(q.delayed, (task.scheduled_time, seq, task.id))

    def _promote(self, q: _Queue, now: float) -> None:
        while q.delayed and q.delayed[0][0] <= now:
            scheduled, seq, task_id = heapq.heappop(q.delayed)
            entry = q.pending.get(task_id)
            if entry is not None and entry[0] == seq:
                queued = entry[1]
                q.ready.push((-queued.priority, scheduled, seq, task_id))
        for task_id, token in q.leases.pop_due(now):
            task = q.in_flight.get(task_id)
            if task is None or task.lease_token != token:
                continue
            del q.in_flight[task_id]
            task.lease_token = task.lease_expires = None
            if self.attempts_exhausted(task):
                task.error = lease_expired_error(task)
                task.traceback = None
                task.meta["failed_at"] = now
                q.failed[task_id] = task
            else:
                self._push(q, task, now)

    def enqueue_sync(
        self,
        task: TaskMessage,
        scheduled_time: datetime | float | None = None,
        priority: int | None = None,
    ) -> bool:
        self.prepare(task, scheduled_time, priority)
        stored = task.detached()
        with self._lock:
            q = self._queue(task.queue)
            if task.id in q.pending or task.id in q.in_flight:
                return False
            q.failed.pop(task.id, None)
            self._push(q, stored, self._clock())
            self._listeners.wake()
            return True

    def dequeue_sync(
        self,
        max_items: int = 1,
        *,
        queue: str | None = None,
        lease_seconds: float | None = None,
    ) -> list[TaskMessage]:
        lease = lease_seconds or self.default_lease_seconds
        name = self.queue_for(queue)
        out: list[TaskMessage] = []
        unreadable: list[tuple[TaskMessage, str]] = []
        # One lease token for the batch, as a database claim has, drawn
        # before taking the lock: os.urandom releases the GIL, and a thread
        # holding the queue's lock while it waits to get the GIL back held
        # up every other worker (a third of the worker threads' time, at
        # tens of thousands of tasks a second, was spent in that wait).
        token = new_task_id()
        with self._lock:
            q = self._queue(name)
            now = self._clock()
            self._promote(q, now)
            while q.ready and len(out) < max_items:
                _, _, seq, task_id = q.ready.pop()
                entry = q.pending.get(task_id)
                if entry is None or entry[0] != seq:
                    continue
                del q.pending[task_id]
                task = entry[1]
                task.attempts += 1
                try:
                    # The copy goes through the same validation as a stored
                    # payload: a message changed in place after enqueue (this
                    # queue holds objects) fails like a corrupt payload.
                    delivered = task.checked_copy()
                except CorruptPayload as exc:
                    unreadable.append((task, str(exc)))
                    continue
                task.lease_token = delivered.lease_token = token
                task.lease_expires = delivered.lease_expires = now + lease
                q.in_flight[task_id] = task
                q.leases.set(task_id, task.lease_expires, task.lease_token)
                out.append(delivered)
        for task, reason in unreadable:
            self.fail_unreadable((name, task), reason, queue=name, task_id=task.id)
        return out

    def store_unreadable(self, entry: tuple[str, TaskMessage], error: str) -> None:
        name, task = entry
        with self._lock:
            task.error, task.traceback = error, None
            if isinstance(task.meta, dict):
                task.meta["failed_at"] = self._clock()
            self._queue(name).failed[task.id] = task

    def _held(self, q: _Queue, task: TaskMessage) -> TaskMessage | None:
        held = q.in_flight.get(task.id)
        if held is None or task.lease_token is None or held.lease_token != task.lease_token:
            return None
        if held.lease_expires is not None and held.lease_expires <= self._clock():
            return None
        return held

    def acknowledge_sync(self, task: TaskMessage) -> bool:
        return self.acknowledge_many_sync([task]) == 1

    def acknowledge_many_sync(self, tasks: Iterable[TaskMessage]) -> int:
        done = 0
        with self._lock:  # once for the batch the acknowledger groups
            for task in tasks:
                q = self._queue(task.queue)
                if self._held(q, task) is None:
                    continue
                del q.in_flight[task.id]
                q.leases.discard(task.id)
                done += 1
        return done

    def reject_sync(
        self,
        task: TaskMessage,
        requeue: bool = False,
        *,
        delay: float = 0.0,
        error: str | None = None,
        traceback: str | None = None,
    ) -> bool:
        with self._lock:
            q = self._queue(task.queue)
            held = self._held(q, task)
            if held is None:
                return False
            del q.in_flight[task.id]
            q.leases.discard(task.id)
            held.lease_token = held.lease_expires = None
            held.error, held.traceback = error, traceback
            now = self._clock()
            if requeue:
                held.scheduled_time = now + max(0.0, delay)
                self._push(q, held, now)
                self._listeners.wake()
            else:
                held.meta["failed_at"] = now
                q.failed[held.id] = held
            return True

    def extend_lease_sync(self, task: TaskMessage, seconds: float | None = None) -> bool:
        with self._lock:
            q = self._queue(task.queue)
            held = self._held(q, task)
            if held is None:
                return False
            held.lease_expires = self._clock() + (seconds or self.default_lease_seconds)
            task.lease_expires = held.lease_expires
            assert held.lease_token is not None  # _held matched it to the caller's token
            q.leases.set(held.id, held.lease_expires, held.lease_token)
            return True

    def get_stats_sync(self, queue: str | None = None) -> QueueStats:
        with self._lock:
            q = self._queue(self.queue_for(queue))
            now = self._clock()
            self._promote(q, now)
            ready = sum(1 for _, t in q.pending.values() if t.scheduled_time <= now)
            due = [t.scheduled_time for _, t in q.pending.values() if t.scheduled_time <= now]
            return QueueStats(
                ready=ready,
                delayed=len(q.pending) - ready,
                in_flight=len(q.in_flight),
                failed=len(q.failed),
                oldest_due=min(due) if due else None,
            )

    def get_queue_size_sync(self, queue: str | None = None) -> int:
        return self.get_stats_sync(queue).size

    def get_status_sync(self, task_id: str, queue: str | None = None) -> str | None:
        with self._lock:
            q = self._queue(self.queue_for(queue))
            now = self._clock()
            self._promote(q, now)
            if task_id in q.in_flight:
                return IN_FLIGHT
            if task_id in q.pending:
                return READY if q.pending[task_id][1].scheduled_time <= now else DELAYED
            if task_id in q.failed:
                return FAILED
            return None

    def peek_sync(self, queue: str | None = None, limit: int = 20) -> list[TaskMessage]:
        with self._lock:
            q = self._queue(self.queue_for(queue))
            now = self._clock()
            entries = list(q.pending.values())

        def taken(entry: tuple[int, TaskMessage]) -> tuple[bool, float, float, int]:
            # Due tasks by priority, time, enqueue order (the claim's order);
            # delayed ones by when they fall due, then priority.
            seq, task = entry
            if task.scheduled_time <= now:
                return (False, -task.priority, task.scheduled_time, seq)
            return (True, task.scheduled_time, -task.priority, seq)

        entries.sort(key=taken)
        return [_shown(t, self.queue_for(queue)) for _, t in entries[:limit]]

    def get_task_sync(self, task_id: str, queue: str | None = None) -> TaskMessage | None:
        name = self.queue_for(queue)
        with self._lock:
            q = self._queue(name)
            self._promote(q, self._clock())
            entry = q.pending.get(task_id)
            task = entry[1] if entry is not None else q.in_flight.get(task_id) or q.failed.get(task_id)
            if task is None:
                return None
            shown = _shown(task, name)
            shown.lease_token, shown.lease_expires = task.lease_token, task.lease_expires
            return shown

    def queues_sync(self) -> list[str]:
        with self._lock:
            return sorted(self._queues)

    def clear_sync(self, queue: str | None = None) -> int:
        with self._lock:
            q = self._queue(self.queue_for(queue))
            count = len(q.pending) + len(q.in_flight)
            failed = q.failed
            self._queues[self.queue_for(queue)] = _Queue(failed=failed)
            return count

    def health_check_sync(self) -> bool:
        return True

    def list_failed_sync(
        self, queue: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[TaskMessage]:
        with self._lock:
            tasks = list(self._queue(self.queue_for(queue)).failed.values())
        tasks.reverse()
        return [_shown(t, self.queue_for(queue)) for t in tasks[offset : offset + limit]]

    def retry_failed_sync(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        moved = 0
        with self._lock:
            q = self._queue(self.queue_for(queue))
            now = self._clock()
            for task_id in task_ids:
                task = q.failed.pop(task_id, None)
                if task is None:
                    continue
                task.scheduled_time = now
                task.attempts = 0
                task.meta.pop("failed_at", None)
                self._push(q, task, now)
                moved += 1
        return moved

    def delete_failed_sync(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        with self._lock:
            q = self._queue(self.queue_for(queue))
            return sum(q.failed.pop(task_id, None) is not None for task_id in task_ids)

    # -- the worker registry (this process's schedulers) -------------------------------

    def save_worker_sync(self, worker_id: str, record: str, ttl: float, *, fresh: bool = False) -> bool:
        with self._lock:
            now = self._clock()
            self._drop_expired_workers(now)
            previous = self._workers.pop(worker_id, None)  # re-added last: newest last
            stop = bool(previous and previous.stop and not fresh)
            if previous is None and len(self._workers) >= WORKERS_KEPT:
                return stop  # bounded: the table is full of live records
            self._workers[worker_id] = _WorkerEntry(record, now + ttl, stop)
            return stop

    def load_workers_sync(self, limit: int = 500) -> list[StoredWorker]:
        with self._lock:
            self._drop_expired_workers(self._clock())
            entries = list(self._workers.items())[-limit:]
        return [StoredWorker(worker_id, entry.record, entry.stop) for worker_id, entry in reversed(entries)]

    def delete_worker_sync(self, worker_id: str) -> bool:
        with self._lock:
            return self._workers.pop(worker_id, None) is not None

    def request_worker_stop_sync(self, worker_id: str) -> bool:
        with self._lock:
            entry = self._workers.get(worker_id)
            if entry is None or entry.expires <= self._clock():
                return False
            entry.stop = True
            return True

    def _drop_expired_workers(self, now: float) -> None:
        for worker_id in [w for w, entry in self._workers.items() if entry.expires <= now]:
            del self._workers[worker_id]
