"""The public queue backend contract.

A backend stores :class:`~symphra_django.messages.TaskMessage` objects for one
or more named queues and hands them out under a lease. The rules every backend
follows (C1–C12, listed in docs/custom-backends.md) are the tests of the
contract kit, :mod:`symphra_django.testing`.

The interface is the seed library's async one (``connect``, ``enqueue``,
``dequeue``, ``acknowledge``, ``reject``, ``get_queue_size``, ``clear``,
``health_check``, …). Each method also has a sync twin with a ``_sync``
suffix, for views, management commands and the threaded workers. A backend
implements *either* side of each pair and the base class derives the other:

* a backend built on a sync client (the ORM, redis-py, pika) implements the
  ``*_sync`` methods; the async ones run them in a thread;
* a backend written for the seed's async interface implements the async
  methods; the sync ones run them on a private event loop thread.

Implementing neither side of a required method is a ``TypeError`` when the
backend is instantiated.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from symphra_django.exceptions import CorruptPayload
from symphra_django.messages import (
    DEFAULT_QUEUE,
    QueueStats,
    TaskMessage,
    delivery_limit,
    to_timestamp,
)
from symphra_django.utils.identifiers import validate_identifier

logger = logging.getLogger("symphra_django.backends")

T = TypeVar("T")

#: Methods every backend must provide (on one side or the other).
REQUIRED = (
    "enqueue",
    "dequeue",
    "acknowledge",
    "reject",
    "get_queue_size",
    "clear",
    "health_check",
)
#: Methods with a generic fallback or that may be unsupported.
OPTIONAL = (
    "connect",
    "disconnect",
    "enqueue_many",
    "acknowledge_many",
    "extend_lease",
    "get_stats",
    "get_status",
    "list_failed",
    "retry_failed",
    "delete_failed",
    "peek",
    "queues",
)


class NotSupported(NotImplementedError):
    """The backend cannot do this (e.g. peek at a broker without consuming)."""


class Wakeable(Protocol):
    """What ``add_listener`` takes: a ``threading.Event``, or anything else
    with a ``set()`` that wakes a sleeping worker."""

    def set(self) -> None: ...


class Listeners:
    """The events of idle workers, set when work may have arrived.

    Thread-safe; ``wake`` may be called from any thread (an I/O thread
    included): it only sets events.
    """

    def __init__(self) -> None:
        self._events: set[Wakeable] = set()
        self._lock = threading.Lock()

    def add(self, event: Wakeable) -> None:
        with self._lock:
            self._events.add(event)

    def remove(self, event: Wakeable) -> None:
        with self._lock:
            self._events.discard(event)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()

    def __bool__(self) -> bool:
        return bool(self._events)

    def wake(self) -> None:
        with self._lock:
            events = tuple(self._events)
        for event in events:
            event.set()


class QueueBackend:
    """Base class of every queue backend (built-in and custom).

    Subclasses receive the ``OPTIONS`` dict of their ``SYMPHRA["BACKENDS"]``
    entry as keyword arguments; ``alias`` is the entry's name.
    """

    #: Whether tasks survive a process restart (False only for memory).
    durable: ClassVar[bool] = True
    #: Whether a second process sees what this one enqueued.
    shared: ClassVar[bool] = True
    #: Whether ``add_listener`` events are set whenever work arrives, so that
    #: idle workers can sleep until woken instead of polling fast.
    wakes_workers: ClassVar[bool] = False
    #: Default lease, in seconds, when ``dequeue`` is not given one.
    default_lease_seconds: float = 60.0

    #: Django database aliases this backend claims and acknowledges through;
    #: workers keep those connections open between tasks (see
    #: ``execution.release_connections``).
    database_aliases: tuple[str, ...] = ()

    _overridden: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = set()
        for name in REQUIRED + OPTIONAL:
            for attr in (name, f"{name}_sync"):
                if getattr(cls, attr) is not getattr(QueueBackend, attr):
                    names.add(attr)
        cls._overridden = frozenset(names)

    def __new__(cls, *args: Any, **kwargs: Any) -> QueueBackend:
        missing = [
            f"{name}() or {name}_sync()"
            for name in REQUIRED
            if name not in cls._overridden and f"{name}_sync" not in cls._overridden
        ]
        if missing:
            raise TypeError(
                f"{cls.__module__}.{cls.__qualname__} must implement "
                + ", ".join(missing)
            )
        return super().__new__(cls)

    def __init__(
        self,
        *,
        alias: str = "default",
        queue_name: str = DEFAULT_QUEUE,
        lease_seconds: float | None = None,
        max_attempts: int | None = None,
    ) -> None:
        self.alias = alias
        self.default_queue = validate_identifier(queue_name, "queue_name")
        if lease_seconds is not None:
            if lease_seconds <= 0:
                raise ValueError(f"lease_seconds must be > 0, got {lease_seconds!r}")
            self.default_lease_seconds = float(lease_seconds)
        #: Accepted so that existing settings keep working, and ignored: every
        #: message carries its task's retry policy's ``max_attempts`` and
        #: ``messages.delivery_limit`` decides (check symphra_django.W001).
        self.max_attempts = max_attempts
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()

    # -- helpers for subclasses -------------------------------------------

    def queue_for(self, queue: str | None) -> str:
        return self.default_queue if queue is None else queue

    def describe(self) -> str:
        """A one-line description for logs and the admin, without secrets."""
        return f"{type(self).__name__}({self.alias})"

    def _runs_sync(self, name: str) -> bool:
        return f"{name}_sync" in self._overridden

    def _runs_async(self, name: str) -> bool:
        return name in self._overridden

    def _run_coroutine(self, awaitable: Awaitable[T]) -> T:
        """Run an async method from sync code, on this backend's loop thread."""
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever,
                    name=f"symphra-backend-{self.alias}",
                    daemon=True,
                )
                thread.start()
                self._loop = loop
        return asyncio.run_coroutine_threadsafe(awaitable, self._loop).result()  # type: ignore[arg-type]

    async def _run_sync(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(func, *args, **kwargs)

    def _dispatch_sync(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._runs_async(name):
            return self._run_coroutine(getattr(self, name)(*args, **kwargs))
        raise NotSupported(f"{type(self).__name__} does not support {name}()")

    async def _dispatch_async(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._runs_sync(name):
            return await self._run_sync(getattr(self, f"{name}_sync"), *args, **kwargs)
        raise NotSupported(f"{type(self).__name__} does not support {name}()")

    # -- lifecycle ----------------------------------------------------------

    async def connect(self) -> None:
        """Open connections. Called once before use; may be called again after
        ``disconnect``."""
        if self._runs_sync("connect"):
            await self._run_sync(self.connect_sync)

    def connect_sync(self) -> None:
        if self._runs_async("connect"):
            self._run_coroutine(self.connect())

    async def disconnect(self) -> None:
        """Close connections and release resources."""
        if self._runs_sync("disconnect"):
            await self._run_sync(self.disconnect_sync)

    def disconnect_sync(self) -> None:
        if self._runs_async("disconnect"):
            self._run_coroutine(self.disconnect())
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None

    # -- producing ------------------------------------------------------------

    async def enqueue(
        self,
        task: TaskMessage,
        scheduled_time: datetime | float | None = None,
        priority: int | None = None,
    ) -> bool:
        """Store ``task`` (C1). Returns False when a task with the same id is
        already queued or in flight, in which case nothing changes (C2)."""
        return await self._dispatch_async("enqueue", task, scheduled_time, priority)

    def enqueue_sync(
        self,
        task: TaskMessage,
        scheduled_time: datetime | float | None = None,
        priority: int | None = None,
    ) -> bool:
        return self._dispatch_sync("enqueue", task, scheduled_time, priority)

    async def enqueue_many(self, tasks: Iterable[TaskMessage]) -> int:
        """Enqueue several tasks; returns how many were new."""
        if self._runs_sync("enqueue_many"):
            return await self._run_sync(self.enqueue_many_sync, list(tasks))
        return sum([await self.enqueue(task) for task in tasks])

    def enqueue_many_sync(self, tasks: Iterable[TaskMessage]) -> int:
        if self._runs_async("enqueue_many"):
            return self._run_coroutine(self.enqueue_many(list(tasks)))
        return sum(self.enqueue_sync(task) for task in tasks)

    # -- consuming --------------------------------------------------------------

    async def dequeue(
        self,
        max_items: int = 1,
        *,
        queue: str | None = None,
        lease_seconds: float | None = None,
    ) -> list[TaskMessage]:
        """Lease up to ``max_items`` due tasks of ``queue`` (C3, C4, C5)."""
        return await self._dispatch_async(
            "dequeue", max_items, queue=queue, lease_seconds=lease_seconds
        )

    def dequeue_sync(
        self,
        max_items: int = 1,
        *,
        queue: str | None = None,
        lease_seconds: float | None = None,
    ) -> list[TaskMessage]:
        return self._dispatch_sync(
            "dequeue", max_items, queue=queue, lease_seconds=lease_seconds
        )

    async def acknowledge(self, task: TaskMessage) -> bool:
        """Mark a leased task done. False if the lease is no longer held."""
        return await self._dispatch_async("acknowledge", task)

    def acknowledge_sync(self, task: TaskMessage) -> bool:
        return self._dispatch_sync("acknowledge", task)

    async def acknowledge_many(self, tasks: Iterable[TaskMessage]) -> int:
        """Acknowledge several leased tasks; returns how many were still held."""
        if self._runs_sync("acknowledge_many"):
            return await self._run_sync(self.acknowledge_many_sync, list(tasks))
        return sum([await self.acknowledge(task) for task in tasks])

    def acknowledge_many_sync(self, tasks: Iterable[TaskMessage]) -> int:
        if self._runs_async("acknowledge_many"):
            return self._run_coroutine(self.acknowledge_many(list(tasks)))
        return sum(self.acknowledge_sync(task) for task in tasks)

    async def reject(
        self,
        task: TaskMessage,
        requeue: bool = False,
        *,
        delay: float = 0.0,
        error: str | None = None,
        traceback: str | None = None,
    ) -> bool:
        """Give a leased task back: to the queue after ``delay`` seconds
        (``requeue=True``) or to the failed store with its error (C8)."""
        return await self._dispatch_async(
            "reject", task, requeue, delay=delay, error=error, traceback=traceback
        )

    def reject_sync(
        self,
        task: TaskMessage,
        requeue: bool = False,
        *,
        delay: float = 0.0,
        error: str | None = None,
        traceback: str | None = None,
    ) -> bool:
        return self._dispatch_sync(
            "reject", task, requeue, delay=delay, error=error, traceback=traceback
        )

    async def extend_lease(self, task: TaskMessage, seconds: float | None = None) -> bool:
        """Push a held lease's expiry to now + ``seconds`` (C6)."""
        return await self._dispatch_async("extend_lease", task, seconds)

    def extend_lease_sync(self, task: TaskMessage, seconds: float | None = None) -> bool:
        return self._dispatch_sync("extend_lease", task, seconds)

    # -- inspecting -------------------------------------------------------------

    async def get_queue_size(self, queue: str | None = None) -> int:
        """Tasks not yet acknowledged or failed: ready + delayed + in flight (C10)."""
        return await self._dispatch_async("get_queue_size", queue)

    def get_queue_size_sync(self, queue: str | None = None) -> int:
        return self._dispatch_sync("get_queue_size", queue)

    async def get_stats(self, queue: str | None = None) -> QueueStats:
        """Ready, delayed, in-flight and failed counts of one queue."""
        return await self._dispatch_async("get_stats", queue)

    def get_stats_sync(self, queue: str | None = None) -> QueueStats:
        return self._dispatch_sync("get_stats", queue)

    async def get_status(self, task_id: str, queue: str | None = None) -> str | None:
        """The state of a task id (``messages.TASK_STATES``) or None if unknown."""
        return await self._dispatch_async("get_status", task_id, queue)

    def get_status_sync(self, task_id: str, queue: str | None = None) -> str | None:
        return self._dispatch_sync("get_status", task_id, queue)

    async def peek(self, queue: str | None = None, limit: int = 20) -> list[TaskMessage]:
        """The next due tasks without leasing them (NotSupported where the
        broker cannot show them without consuming)."""
        return await self._dispatch_async("peek", queue, limit)

    def peek_sync(self, queue: str | None = None, limit: int = 20) -> list[TaskMessage]:
        return self._dispatch_sync("peek", queue, limit)

    async def queues(self) -> list[str]:
        """Names of the queues this backend holds tasks for."""
        return await self._dispatch_async("queues")

    def queues_sync(self) -> list[str]:
        return self._dispatch_sync("queues")

    async def clear(self, queue: str | None = None) -> int:
        """Remove every pending and in-flight task of one queue (C11)."""
        return await self._dispatch_async("clear", queue)

    def clear_sync(self, queue: str | None = None) -> int:
        return self._dispatch_sync("clear", queue)

    async def health_check(self) -> bool:
        """True when the backend answers; never raises (C11)."""
        try:
            return bool(await self._dispatch_async("health_check"))
        except Exception:  # noqa: BLE001 - health checks must not raise
            logger.debug("health check of %s failed", self.describe(), exc_info=True)
            return False

    def health_check_sync(self) -> bool:
        try:
            return bool(self._dispatch_sync("health_check"))
        except Exception:  # noqa: BLE001
            logger.debug("health check of %s failed", self.describe(), exc_info=True)
            return False

    # -- the failed store ---------------------------------------------------------

    async def list_failed(
        self, queue: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[TaskMessage]:
        """Failed tasks, newest first, each with ``error`` and ``traceback``."""
        return await self._dispatch_async("list_failed", queue, limit, offset)

    def list_failed_sync(
        self, queue: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[TaskMessage]:
        return self._dispatch_sync("list_failed", queue, limit, offset)

    async def retry_failed(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        """Move failed tasks back to the queue, due now; returns how many moved."""
        return await self._dispatch_async("retry_failed", list(task_ids), queue)

    def retry_failed_sync(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        return self._dispatch_sync("retry_failed", list(task_ids), queue)

    async def delete_failed(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        """Delete failed tasks; returns how many were deleted."""
        return await self._dispatch_async("delete_failed", list(task_ids), queue)

    def delete_failed_sync(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        return self._dispatch_sync("delete_failed", list(task_ids), queue)

    # -- waking idle workers -----------------------------------------------------------

    def add_listener(self, event: Wakeable) -> None:
        """Ask to have ``event`` set when work may have arrived.

        Workers sleep on such an event between polls. A backend that can tell
        (in-process, or through a notification channel) sets it on enqueue so
        that idle workers start at once (and says so with ``wakes_workers``);
        the default does nothing and workers just poll every
        ``SYMPHRA["POLL_INTERVAL"]`` at most.
        """

    def remove_listener(self, event: Wakeable) -> None:
        """Stop setting ``event`` (see ``add_listener``)."""

    # -- shared helpers ---------------------------------------------------------------

    def prepare(
        self,
        task: TaskMessage,
        scheduled_time: datetime | float | None,
        priority: int | None,
    ) -> TaskMessage:
        """Apply the seed-style ``enqueue`` arguments to the message."""
        if scheduled_time is not None:
            task.scheduled_time = to_timestamp(scheduled_time)
        if priority is not None:
            task.priority = priority
        return task

    def attempts_exhausted(self, task: TaskMessage) -> bool:
        """Whether a message that came back (lease expired) has used its deliveries."""
        return task.attempts >= delivery_limit(task.max_attempts)

    # -- stored data that cannot become a task ---------------------------------------

    def decode_stored(
        self, raw: str | bytes, entry: Any, *, queue: str, task_id: str | None = None
    ) -> TaskMessage | None:
        """The message stored as ``raw``, or None once the stored ``entry``
        has been moved to the failed store (see ``fail_unreadable``).

        Backends call this from ``dequeue`` for every claimed payload, so that
        one unreadable message never costs its batch-mates their delivery.
        """
        try:
            return TaskMessage.from_json(raw)
        except CorruptPayload as exc:
            self.fail_unreadable(entry, str(exc), queue=queue, task_id=task_id)
            return None

    def fail_unreadable(
        self, entry: Any, reason: str, *, queue: str, task_id: str | None = None
    ) -> None:
        """File a stored entry that cannot become a task in the failed store,
        with ``reason`` (short, from ``CorruptPayload``), and log one line."""
        shown = "?" if task_id is None else repr(task_id[:80])
        logger.error(
            "stored task %s on queue %r of %s cannot be read; moved to the failed store: %s",
            shown, queue[:80], self.describe(), reason[:300],
        )
        self.store_unreadable(entry, f"corrupt payload: {reason}")

    def store_unreadable(self, entry: Any, error: str) -> None:
        """Move one stored entry that cannot become a task to the failed store,
        with ``error`` as its error; ``entry`` is whatever the backend handed
        to ``decode_stored`` (a row id and lease, a delivery, ...).

        The storage primitive behind ``fail_unreadable``: a backend that
        stores payloads (and so may read back one it cannot decode) overrides it.
        """
        raise NotSupported(f"{type(self).__name__} cannot file unreadable stored tasks")


def lease_expired_error(task: TaskMessage) -> str:
    return (
        f"lease expired {task.attempts} time(s) without an acknowledgement "
        f"(limit {delivery_limit(task.max_attempts)} deliveries: {task.max_attempts} "
        "run(s) and the redeliveries allowed after crashes): the worker was killed "
        "or the task keeps crashing its worker"
    )
