"""The public queue backend contract.

A backend stores :class:`~symphra_django.messages.TaskMessage` objects for one
or more named queues and hands them out under a lease. The rules every backend
follows (C1–C12, listed in docs/custom-backends.md) are the tests of the
contract kit, :mod:`symphra_django.testing`.

The interface keeps the async method names backends were first written for
(``connect``, ``enqueue``, ``dequeue``, ``acknowledge``, ``reject``,
``get_queue_size``, ``clear``, ``health_check``, …). Each method also has a
sync twin with a ``_sync`` suffix, for views, management commands and the
threaded workers. A backend implements *either* side of each pair and the
base class derives the other (one mechanism, :func:`operation` and
:func:`sync_twin` below):

* a backend built on a sync client (the ORM, redis-py, pika) implements the
  ``*_sync`` methods; the async ones run them in a thread;
* a backend written for an async client implements the async methods; the
  sync ones run them on a private event loop thread.

Implementing neither side of a required method is a ``TypeError`` when the
backend is instantiated; an optional one then raises :class:`NotSupported`
(or, for ``enqueue_many``/``acknowledge_many``, goes one task at a time, and
for ``get_task`` and the failed-store searches, is built on ``peek`` and
``list_failed`` by :mod:`symphra_django.backends.failed_store`).

Connecting is the backend's business, not its caller's: getting a backend
never touches the network, and the first operation connects it
(:meth:`QueueBackend.ensure_connected`: once, thread-safe, one attempt).
``runscheduler`` connects explicitly at start, with retries and backoff.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, ParamSpec, Protocol, TypeVar

from django.core.exceptions import ImproperlyConfigured

from symphra_django.exceptions import BackendUnavailable, CorruptPayload
from symphra_django.messages import DEFAULT_QUEUE, REASON_LENGTH, QueueStats, TaskMessage, delivery_limit
from symphra_django.utils.identifiers import validate_identifier
from symphra_django.utils.secrets import mask_urls_in
from symphra_django.utils.text import shorten, shorten_name
from symphra_django.utils.times import to_timestamp

if TYPE_CHECKING:
    from symphra_django.backends.failed_store import FailedPage, FailedQuery
    from symphra_django.backends.workers import StoredWorker

logger = logging.getLogger("symphra_django.backends")

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")
B = TypeVar("B", bound="QueueBackend")


#: Seconds a worker waits before calling ``upkeep`` again after it raised.
UPKEEP_RETRY_SECONDS = 5.0


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


# -- the sync/async pairs ------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One method pair of the contract: ``name`` (async) and ``name_sync``."""

    name: str
    #: Instantiating a backend that implements neither side is a TypeError.
    required: bool = False
    #: Implemented by neither side: call this single-task method for each
    #: task of the first argument and count the True answers.
    each: str | None = None
    #: Implemented by neither side: do nothing (instead of NotSupported).
    optional: bool = False
    #: Implemented by neither side: call this function of
    #: :mod:`symphra_django.backends.failed_store` with the backend and the
    #: arguments (a generic way built on other methods of the contract).
    fallback: str | None = None

    @property
    def sync_name(self) -> str:
        return f"{self.name}_sync"


#: Every pair of the contract, by async name, in declaration order.
OPERATIONS: dict[str, Operation] = {}


def operation(
    *, required: bool = False, each: str | None = None, optional: bool = False, fallback: str | None = None
) -> Callable[[Callable[Concatenate[B, P], Awaitable[R]]], Callable[Concatenate[B, P], Awaitable[R]]]:
    """Declare a pair of the contract from its async stub (signature and
    docstring; the body is never run) and return the async side the base
    class provides: it runs the backend's ``*_sync`` method in a thread."""

    def declare(stub: Callable[Concatenate[B, P], Awaitable[R]]) -> Callable[Concatenate[B, P], Awaitable[R]]:
        op = OPERATIONS[stub.__name__] = Operation(stub.__name__, required, each, optional, fallback)

        async def derived(self: QueueBackend, *args: Any, **kwargs: Any) -> Any:
            if op.sync_name in self._implemented:
                return await asyncio.to_thread(getattr(self, op.sync_name), *args, **kwargs)
            if op.fallback:
                return await asyncio.to_thread(_fallback(op), self, *args, **kwargs)
            if op.each:
                single = getattr(self, op.each)
                return sum([bool(await single(item)) for item in _items(args, kwargs)])
            if op.optional:
                return None
            raise _unsupported(self, op.name)

        return _guarded(op, functools.wraps(stub)(derived))

    return declare


def sync_twin(stub: Callable[Concatenate[B, P], Awaitable[R]]) -> Callable[Concatenate[B, P], R]:
    """The sync side the base class provides for a pair declared with
    :func:`operation`: it runs the backend's async method on this backend's
    private event loop thread."""
    op = OPERATIONS[stub.__name__]

    def derived(self: QueueBackend, *args: Any, **kwargs: Any) -> Any:
        if op.name in self._implemented:
            return self._run_coroutine(getattr(self, op.name)(*args, **kwargs))
        if op.fallback:
            return _fallback(op)(self, *args, **kwargs)
        if op.each:
            single = getattr(self, f"{op.each}_sync")
            return sum(bool(single(item)) for item in _items(args, kwargs))
        if op.optional:
            return None
        raise _unsupported(self, op.name)

    functools.update_wrapper(derived, stub)
    derived.__name__ = op.sync_name
    derived.__qualname__ = stub.__qualname__.replace(op.name, op.sync_name)
    del derived.__wrapped__  # type: ignore[attr-defined]  # it is not a coroutine function
    # update_wrapper copied the async side's marker too: without this the
    # sync side would pass for guarded and skip its guard (no connected state
    # kept, so every call went through ensure_connected's lock and connect).
    derived.__dict__.pop("_symphra_guarded", None)
    derived.__signature__ = inspect.signature(stub)  # type: ignore[attr-defined]
    return _guarded(op, derived)


def _fallback(op: Operation) -> Callable[..., Any]:
    # Imported when first used: failed_store builds on this module.
    from symphra_django.backends import failed_store

    return getattr(failed_store, op.fallback or "")


def _probe_calls(expected: inspect.Signature) -> list[tuple[list[Any], dict[str, Any]]]:
    """The ways callers call a method of the contract with this signature:
    with its required parameters only, with all of them positionally where
    they may be, and with all of them by name where they may be."""
    required: tuple[list[Any], dict[str, Any]] = ([], {})
    positional: tuple[list[Any], dict[str, Any]] = ([], {})
    named: tuple[list[Any], dict[str, Any]] = ([], {})
    for param in expected.parameters.values():
        if param.kind is param.POSITIONAL_OR_KEYWORD:
            if param.default is param.empty:
                required[0].append(param.name)
            positional[0].append(param.name)
            if param.name == "self":
                named[0].append(param.name)
            else:
                named[1][param.name] = param.name
        elif param.kind is param.KEYWORD_ONLY:
            if param.default is param.empty:
                required[1][param.name] = param.name
            positional[1][param.name] = param.name
            named[1][param.name] = param.name
    return [required, positional, named]


def _plain(signature: inspect.Signature) -> str:
    """``(self, queue=None)``: a signature without annotations, for messages."""
    params = [p.replace(annotation=p.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=params, return_annotation=inspect.Signature.empty))


def signature_mismatches(cls: type[QueueBackend]) -> list[str]:
    """The methods ``cls`` implements that cannot be called the way the
    contract calls them (a backend written for an older interface, e.g.
    ``get_queue_size(self)`` without the ``queue`` parameter), each as
    ``"name(self) must accept (self, queue=None)"``."""
    mismatches = []
    for op in OPERATIONS.values():
        for attr in (op.name, op.sync_name):
            if attr not in cls._implemented:
                continue
            expected = inspect.signature(getattr(QueueBackend, attr))
            try:
                actual = inspect.signature(getattr(cls, attr))
            except (TypeError, ValueError):  # a callable without a signature: nothing to compare
                continue
            try:
                for args, kwargs in _probe_calls(expected):
                    actual.bind(*args, **kwargs)
            except TypeError:
                mismatches.append(f"{attr}{_plain(actual)} must accept {_plain(expected)}")
    return mismatches


def _items(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterable[Any]:
    return args[0] if args else next(iter(kwargs.values()))


def _unsupported(backend: QueueBackend, name: str) -> NotSupported:
    return NotSupported(f"{type(backend).__name__} does not support {name}()")


def _guarded(op: Operation, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` (one side of ``op``, the base's or a backend's) with what
    every call of that side does around the backend's own code:

    * an operation first connects the backend if it is not connected
      (``ensure_connected``);
    * ``health_check`` answers False instead of raising (C11);
    * ``connect`` and ``disconnect`` keep the connected state (and
      ``disconnect_sync`` stops the private event loop, if one was started).
    """
    if getattr(func, "_symphra_guarded", False):
        return func
    name, never_raises = op.name, op.name == "health_check"

    def failed(self: QueueBackend) -> bool:
        logger.debug("health check of %s failed", self.describe(), exc_info=True)
        return False

    if inspect.iscoroutinefunction(func):

        async def guarded(self: QueueBackend, *args: Any, **kwargs: Any) -> Any:
            state = self._connect_state
            if name == "connect":
                await func(self, *args, **kwargs)
                state.connected = True
                return None
            if name == "disconnect":
                state.connected = False
                return await func(self, *args, **kwargs)
            try:
                if not state.connected:
                    await asyncio.to_thread(self.ensure_connected)
                result = await func(self, *args, **kwargs)
            except Exception:
                if never_raises:
                    return failed(self)
                raise
            return bool(result) if never_raises else result

    else:

        def guarded(self: QueueBackend, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            state = self._connect_state
            if name == "connect":
                with state.lock:
                    func(self, *args, **kwargs)
                    state.connected = True
                return None
            if name == "disconnect":
                state.connected = False
                try:
                    return func(self, *args, **kwargs)
                finally:
                    self._stop_loop()
            try:
                if not state.connected:
                    self.ensure_connected()
                result = func(self, *args, **kwargs)
            except Exception:
                if never_raises:
                    return failed(self)
                raise
            return bool(result) if never_raises else result

    functools.update_wrapper(guarded, func)
    guarded._symphra_guarded = True  # type: ignore[attr-defined]
    return guarded


class _ConnectState:
    """Whether a backend is connected, and its one connection attempt at a time."""

    def __init__(self) -> None:
        self.connected = False
        #: Whether the tables this backend needs were found migrated once.
        self.tables_checked = False
        self.lock = threading.RLock()
        #: The thread inside ``connect`` (its own calls must not wait for it).
        self.owner: int | None = None
        self.failures = 0
        #: What the last failed attempt raised, raised again to the threads that waited for it.
        self.error: Exception = BackendUnavailable("not connected")


# -- the contract ----------------------------------------------------------------------


class QueueBackend:
    """Base class of every queue backend (built-in and custom).

    Subclasses receive the ``OPTIONS`` dict of their ``SYMPHRA["BACKENDS"]``
    entry as keyword arguments; ``alias`` is the entry's name.
    """

    #: Whether tasks survive a restart of the process or server holding them
    #: (False for memory, and for RabbitMQ with ``durable=False``). The admin
    #: and ``taskstatus`` say so for a backend that is not. (An instance may
    #: set it from its options.)
    durable: bool = True
    #: Whether another process sees what this one enqueued. A scheduler on a
    #: backend that is not shared keeps its tick ledger and throughput in
    #: memory, since no other process can enqueue or run those tasks.
    shared: ClassVar[bool] = True
    #: Whether ``add_listener`` events are set whenever work arrives, so that
    #: idle workers can sleep until woken instead of polling fast. Read at
    #: every idle claim: a property where it depends on a live subscription.
    wakes_workers: bool = False
    #: Whether the queue lives in the worker's own process (a crash loses it
    #: whole, and an acknowledgement costs no round trip): workers then
    #: acknowledge a batch's finished tasks together when the batch ends,
    #: instead of handing each to the thread that groups acknowledgements.
    acknowledges_in_process: ClassVar[bool] = False
    #: Whether a worker process calls :meth:`upkeep` on a thread of its own
    #: while it runs. Read once, when a worker starts.
    wants_upkeep: bool = False
    #: ``"app_label.ModelName"`` of a Django model holding this backend's
    #: tasks, one row each with a ``queue`` field: the admin links a queue's
    #: page to that model's change list.
    task_model: ClassVar[str | None] = None
    #: Default lease, in seconds, when ``dequeue`` is not given one.
    default_lease_seconds: float = 60.0

    #: Django database aliases this backend claims and acknowledges through;
    #: workers keep those connections open between tasks (see
    #: ``execution.release_connections``).
    database_aliases: tuple[str, ...] = ()

    #: Names of the methods (either side) this class implements itself.
    _implemented: ClassVar[frozenset[str]] = frozenset()
    #: Those of them whose parameters differ from the contract's.
    _mismatches: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for op in OPERATIONS.values():
            for attr in (op.name, op.sync_name):
                func = getattr(cls, attr)  # defined here, or by a mixin
                if inspect.isfunction(func) and not getattr(func, "_symphra_guarded", False):
                    setattr(cls, attr, _guarded(op, func))
        cls._implemented = frozenset(
            attr
            for op in OPERATIONS.values()
            for attr in (op.name, op.sync_name)
            if getattr(cls, attr) is not getattr(QueueBackend, attr)
        )
        cls._mismatches = tuple(signature_mismatches(cls))

    def __new__(cls, *args: Any, **kwargs: Any) -> QueueBackend:
        missing = [
            f"{op.name}() or {op.sync_name}()"
            for op in OPERATIONS.values()
            if op.required and not {op.name, op.sync_name} & cls._implemented
        ]
        if missing:
            raise TypeError(
                f"{cls.__module__}.{cls.__qualname__} must implement "
                + ", ".join(missing)
            )
        if cls._mismatches:
            # Found when the class was defined; refused here, where a missing
            # method is, so that the module defining it still imports.
            raise TypeError(
                f"{cls.__module__}.{cls.__qualname__} does not take the parameters the "
                f"QueueBackend contract passes: {'; '.join(cls._mismatches)}"
            )
        backend = super().__new__(cls)
        # Set here, not in __init__, so that a subclass that forgets
        # super().__init__() still connects and derives safely.
        backend._connect_state = _ConnectState()
        backend._loop = None
        backend._loop_lock = threading.Lock()
        backend._unreadable_filed = 0
        backend._unreadable_lock = threading.Lock()
        return backend

    _connect_state: _ConnectState
    _loop: asyncio.AbstractEventLoop | None
    _loop_lock: threading.Lock
    _unreadable_filed: int
    _unreadable_lock: threading.Lock

    @classmethod
    def contract_mismatches(cls) -> list[str]:
        """This class's methods whose parameters are not the contract's (the
        system check ``symphra_django.E008``; instantiating it is a TypeError)."""
        return list(cls._mismatches)

    @classmethod
    def missing_packages(cls, options: dict[str, Any]) -> list[str]:
        """Why this backend cannot work with ``options`` in this environment:
        one message per package it needs that is not installed (the system
        check ``symphra_django.E006``, and building the backend, report them).
        A backend whose client library is optional overrides this."""
        return []

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

    # -- helpers for subclasses -------------------------------------------

    def queue_for(self, queue: str | None) -> str:
        return self.default_queue if queue is None else queue

    def describe(self) -> str:
        """A one-line description for logs and the admin, without secrets."""
        return f"{type(self).__name__}({self.alias})"

    def _run_coroutine(self, awaitable: Coroutine[Any, Any, T]) -> T:
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
        return asyncio.run_coroutine_threadsafe(awaitable, self._loop).result()

    def _stop_loop(self) -> None:
        with self._loop_lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)

    # -- lifecycle ----------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether ``connect`` has succeeded since the last ``disconnect``."""
        return self._connect_state.connected

    def ensure_connected(self) -> None:
        """Connect if not connected yet: what every operation does first.

        Thread-safe: one thread connects while the others wait, and threads
        that waited for an attempt that failed get its error rather than
        each making an attempt of its own. Raises ``BackendUnavailable``, or
        ``ImproperlyConfigured`` for a setup to fix (e.g. tables not migrated).
        """
        state = self._connect_state
        if state.connected or state.owner == threading.get_ident():
            return  # connected, or connect() itself is using the backend
        failures = state.failures
        with state.lock:
            if state.connected:
                return
            if state.failures != failures:
                raise state.error
            state.owner = threading.get_ident()
            try:
                self.connect_sync()
                if not state.tables_checked:
                    try:
                        self._require_tables()
                    except BaseException:
                        state.connected = False  # usable once the tables are there: check again then
                        raise
                    # Once per instance: a backend that connects again (a
                    # database backend does, per thread) must not pay the
                    # migration queries on the hot path.
                    state.tables_checked = True
            except Exception as exc:
                state.failures += 1
                if isinstance(exc, (BackendUnavailable, ImproperlyConfigured)):
                    # Already says what is wrong (a configuration error, such
                    # as tables not migrated, is not the server's absence).
                    state.error = exc
                    raise
                state.error = BackendUnavailable(
                    mask_urls_in(f"cannot connect {self.describe()}: {type(exc).__name__}: {exc}")
                )
                raise state.error from exc
            finally:
                state.owner = None

    def _require_tables(self) -> None:
        """NotMigrated unless symphra_django's migrations are applied to the
        databases this backend works through (``database_aliases``): a
        missing table is then one line naming ``migrate``, on the first use,
        not a database error on each."""
        if not self.database_aliases:
            return
        from django.db import DatabaseError

        from symphra_django.installation import holds_tables, require_migrated

        for database in self.database_aliases:
            try:
                if holds_tables(database):
                    require_migrated(database)
            except DatabaseError:
                # It cannot tell now (a session the server ended, a database
                # down): the operation itself reconnects, or says what failed.
                logger.debug("could not check the tables of %s in database %r", self.describe(), database,
                             exc_info=True)

    @operation(optional=True)
    async def connect(self) -> None:
        """Open connections: one attempt, bounded by the backend's own
        timeouts; ``BackendUnavailable`` if it cannot. Does nothing when
        already connected. Operations call it through ``ensure_connected``;
        ``runscheduler`` calls it at start, retrying with backoff."""

    connect_sync = sync_twin(connect)

    @operation(optional=True)
    async def disconnect(self) -> None:
        """Close connections and release resources; the next operation
        connects again."""

    disconnect_sync = sync_twin(disconnect)

    # -- producing ------------------------------------------------------------

    @operation(required=True)
    async def enqueue(
        self,
        task: TaskMessage,
        scheduled_time: datetime | float | None = None,
        priority: int | None = None,
    ) -> bool:
        """Store ``task`` (C1). Returns False when a task with the same id is
        already queued or in flight, in which case nothing changes (C2)."""
        raise NotImplementedError

    enqueue_sync = sync_twin(enqueue)

    @operation(each="enqueue")
    async def enqueue_many(self, tasks: Iterable[TaskMessage]) -> int:
        """Enqueue several tasks; returns how many were new."""
        raise NotImplementedError

    enqueue_many_sync = sync_twin(enqueue_many)

    # -- consuming --------------------------------------------------------------

    @operation(required=True)
    async def dequeue(
        self,
        max_items: int = 1,
        *,
        queue: str | None = None,
        lease_seconds: float | None = None,
    ) -> list[TaskMessage]:
        """Lease up to ``max_items`` due tasks of ``queue`` (C3, C4, C5)."""
        raise NotImplementedError

    dequeue_sync = sync_twin(dequeue)

    @operation(required=True)
    async def acknowledge(self, task: TaskMessage) -> bool:
        """Mark a leased task done. False if the lease is no longer held."""
        raise NotImplementedError

    acknowledge_sync = sync_twin(acknowledge)

    @operation(each="acknowledge")
    async def acknowledge_many(self, tasks: Iterable[TaskMessage]) -> int:
        """Acknowledge several leased tasks; returns how many were still held."""
        raise NotImplementedError

    acknowledge_many_sync = sync_twin(acknowledge_many)

    @operation(required=True)
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
        raise NotImplementedError

    reject_sync = sync_twin(reject)

    @operation()
    async def extend_lease(self, task: TaskMessage, seconds: float | None = None) -> bool:
        """Push a held lease's expiry to now + ``seconds`` (C6)."""
        raise NotImplementedError

    extend_lease_sync = sync_twin(extend_lease)

    # -- inspecting -------------------------------------------------------------

    @operation(required=True)
    async def get_queue_size(self, queue: str | None = None) -> int:
        """Tasks not yet acknowledged or failed: ready + delayed + in flight (C10)."""
        raise NotImplementedError

    get_queue_size_sync = sync_twin(get_queue_size)

    @operation()
    async def get_stats(self, queue: str | None = None) -> QueueStats:
        """Ready, delayed, in-flight and failed counts of one queue."""
        raise NotImplementedError

    get_stats_sync = sync_twin(get_stats)

    @operation()
    async def get_status(self, task_id: str, queue: str | None = None) -> str | None:
        """The state of a task id (``messages.TASK_STATES``) or None if unknown."""
        raise NotImplementedError

    get_status_sync = sync_twin(get_status)

    @operation()
    async def peek(self, queue: str | None = None, limit: int = 20) -> list[TaskMessage]:
        """The waiting tasks without leasing them, in the order workers will
        take them: due tasks by priority (higher first), due time and enqueue
        order (C4), then delayed tasks by due time (then priority and enqueue
        order). NotSupported where the broker cannot show them without
        consuming."""
        raise NotImplementedError

    peek_sync = sync_twin(peek)

    @operation(fallback="find_task_by_listing")
    async def get_task(self, task_id: str, queue: str | None = None) -> TaskMessage | None:
        """The task ``task_id`` as this backend holds it, waiting, in flight or
        failed, without taking it; None if it holds no such task.

        A task in flight carries its ``lease_token`` and ``lease_expires``, a
        failed one its ``error``, ``traceback`` and ``meta["failed_at"]``.
        Without an implementation the base class looks through ``peek`` (the
        first 500) and the failed store; NotSupported where the broker cannot
        show a waiting task without taking it."""
        raise NotImplementedError

    get_task_sync = sync_twin(get_task)

    @operation()
    async def queues(self) -> list[str]:
        """Names of the queues this backend holds tasks for."""
        raise NotImplementedError

    queues_sync = sync_twin(queues)

    @operation(required=True)
    async def clear(self, queue: str | None = None) -> int:
        """Remove every pending and in-flight task of one queue (C11)."""
        raise NotImplementedError

    clear_sync = sync_twin(clear)

    @operation(required=True)
    async def health_check(self) -> bool:
        """True when the backend answers; never raises (C11): an error,
        connecting included, answers False."""
        raise NotImplementedError

    health_check_sync = sync_twin(health_check)

    # -- the failed store ---------------------------------------------------------

    @operation()
    async def list_failed(
        self, queue: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[TaskMessage]:
        """Failed tasks, newest first (skipping ``offset``, at most ``limit``),
        each with ``error``, ``traceback`` and the time it failed in
        ``meta["failed_at"]`` (epoch seconds; ``TaskMessage.failed_at``)."""
        raise NotImplementedError

    list_failed_sync = sync_twin(list_failed)

    @operation(fallback="find_failed_by_listing")
    async def find_failed(
        self, queue: str | None = None, query: FailedQuery | None = None, limit: int = 100, offset: int = 0
    ) -> FailedPage:
        """The failed tasks that match ``query``, newest first (skipping
        ``offset``, at most ``limit``), and how many match in all.

        Without an implementation the base class builds it on
        ``list_failed`` (and ``get_stats`` for the total when nothing is
        filtered): the store is read in chunks and filtered in Python. A
        backend that can filter in its storage overrides it."""
        raise NotImplementedError

    find_failed_sync = sync_twin(find_failed)

    @operation()
    async def retry_failed(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        """Move failed tasks back to the queue, due now; returns how many moved."""
        raise NotImplementedError

    retry_failed_sync = sync_twin(retry_failed)

    @operation()
    async def delete_failed(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        """Delete failed tasks; returns how many were deleted."""
        raise NotImplementedError

    delete_failed_sync = sync_twin(delete_failed)

    @operation(fallback="retry_failed_by_listing")
    async def retry_failed_where(self, queue: str | None = None, query: FailedQuery | None = None) -> int:
        """Retry every failed task of ``queue`` that matches ``query`` (all
        of them without one); returns how many moved. The base class
        lists the matching ids, then calls ``retry_failed``."""
        raise NotImplementedError

    retry_failed_where_sync = sync_twin(retry_failed_where)

    @operation(fallback="delete_failed_by_listing")
    async def delete_failed_where(self, queue: str | None = None, query: FailedQuery | None = None) -> int:
        """Delete every failed task of ``queue`` that matches ``query`` (all
        of them without one); returns how many were deleted. The base class
        lists the matching ids, then calls ``delete_failed``."""
        raise NotImplementedError

    delete_failed_where_sync = sync_twin(delete_failed_where)

    # -- the worker registry --------------------------------------------------------------

    @property
    def reports_workers(self) -> bool:
        """Whether this backend keeps the worker registry (``save_worker``
        and ``load_workers``): the admin's Workers page and the health probes
        say "not reported by this backend" for one that does not, and
        ``runscheduler`` then skips its heartbeats."""
        return bool({"save_worker", "save_worker_sync"} & self._implemented) and bool(
            {"load_workers", "load_workers_sync"} & self._implemented
        )

    @operation()
    async def save_worker(self, worker_id: str, record: str, ttl: float, *, fresh: bool = False) -> bool:
        """Store the record of the worker ``worker_id`` (JSON text made by
        :meth:`~symphra_django.backends.workers.WorkerRecord.to_json`),
        replacing its previous one, and drop it ``ttl`` seconds from now
        unless it is saved again. ``fresh`` (a worker that just started)
        also clears a stop request. Returns whether a stop was requested
        (``request_worker_stop``) since then. Called once per heartbeat
        interval by each ``runscheduler`` process, never per task."""
        raise NotImplementedError

    save_worker_sync = sync_twin(save_worker)

    @operation()
    async def load_workers(self, limit: int = 500) -> list[StoredWorker]:
        """The worker records this backend holds (at most ``limit``, the most
        recent first where the storage can tell), each as stored: the base
        class and :func:`~symphra_django.backends.workers.list_workers`
        read them as hostile input. Expired records may be left out."""
        raise NotImplementedError

    load_workers_sync = sync_twin(load_workers)

    @operation()
    async def delete_worker(self, worker_id: str) -> bool:
        """Remove a worker's record (it stopped cleanly); False if there was none."""
        raise NotImplementedError

    delete_worker_sync = sync_twin(delete_worker)

    @operation()
    async def request_worker_stop(self, worker_id: str) -> bool:
        """Ask the worker ``worker_id`` to stop accepting work: its next
        ``save_worker`` answers True, and it then finishes what it holds and
        exits as on SIGTERM. False if no such worker is registered."""
        raise NotImplementedError

    request_worker_stop_sync = sync_twin(request_worker_stop)

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

    # -- background upkeep ------------------------------------------------------------

    def upkeep(self) -> float:
        """Upkeep of the store that no claim or acknowledgement should pay
        for; returns the seconds to wait before the next call.

        A worker process calls it on a thread of its own while it runs, if
        ``wants_upkeep`` is true (the database backend on SQLite sets it: it
        folds the write-ahead log into the database file here, so that no
        commit on a worker's path has to). Calls never overlap within one
        process, but several worker processes make them at once. An
        exception is logged and the call repeated after
        ``UPKEEP_RETRY_SECONDS``.
        """
        return UPKEEP_RETRY_SECONDS

    # -- shared helpers ---------------------------------------------------------------

    def prepare(
        self,
        task: TaskMessage,
        scheduled_time: datetime | float | None,
        priority: int | None,
    ) -> TaskMessage:
        """Apply ``enqueue``'s ``scheduled_time`` and ``priority`` arguments to the message."""
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
        with ``reason`` (short, from ``CorruptPayload``), and log one line.

        A longer reason (a backend's own, built from what it read) is cut,
        its full length stated: stored data must not reach the failed store
        or the log whole.
        """
        shown = "?" if task_id is None else shorten_name(repr(task_id))
        reason = shorten(reason, REASON_LENGTH)
        logger.error(
            "stored task %s on queue %s of %s cannot be read; moved to the failed store: %s",
            shown, shorten_name(repr(queue)), self.describe(), reason,
        )
        self.store_unreadable(entry, f"corrupt payload: {reason}")
        with self._unreadable_lock:
            self._unreadable_filed += 1

    @property
    def unreadable_filed(self) -> int:
        """How many stored entries this instance has filed in the failed store
        because they could not be read (``runscheduler``'s closing summary
        counts them among the failed)."""
        return self._unreadable_filed

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


#: Methods every backend must provide (on one side or the other).
REQUIRED = tuple(op.name for op in OPERATIONS.values() if op.required)
#: Methods with a generic fallback or that may be unsupported.
OPTIONAL = tuple(op.name for op in OPERATIONS.values() if not op.required)
