"""Declaring tasks and enqueuing them.

``@task`` declares on-demand work; the schedule decorators (``cron``,
``interval``, ``every``, ``once``, ``hourly``, ``daily``, ``weekly``,
``monthly``, ``scheduled``) declare periodic work, which can also be
enqueued on demand. ``fn.enqueue(...)`` / ``await fn.aenqueue(...)`` put a
call on a queue; calling ``fn(...)`` still runs it inline.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone as dj_timezone

from symphra_django import conf
from symphra_django.exceptions import EnqueueError, TaskDeclarationError
from symphra_django.messages import (
    DEFAULT_QUEUE,
    MAX_PRIORITY,
    MIN_PRIORITY,
    TaskMessage,
    new_task_id,
    plain_values,
)
from symphra_django.signals import task_enqueued
from symphra_django.tasks.registry import TaskRegistry, registry
from symphra_django.tasks.retry import RetryPolicy, default_policy
from symphra_django.tasks.schedules import Schedule, Window
from symphra_django.utils.times import naive_datetime_error

logger = logging.getLogger("symphra_django.tasks")


@functools.cache
def _handler() -> Any:
    """``symphra_django.backends.handler``, imported on first use (importing
    it with this module would load django.db before the settings are read),
    then kept: an import statement costs a tenth of an in-memory enqueue."""
    from symphra_django.backends import handler

    return handler


#: Keyword arguments of ``enqueue`` that are options, not task arguments
#: (unless the task function itself has a parameter of that name).
ENQUEUE_OPTIONS = ("run_at", "delay", "priority", "queue", "task_id")


@dataclass(frozen=True)
class EnqueueOptions:
    run_at: datetime | None = None
    delay: float | timedelta | None = None
    priority: int | None = None
    queue: str | None = None
    task_id: str | None = None


#: The options of an enqueue that passes none (frozen, so shared).
NO_OPTIONS = EnqueueOptions()


@dataclass
class Task:
    """A declared task: the function plus how it is queued and run."""

    func: Callable[..., Any]
    name: str
    #: The queue given with ``queue=``; None: the backend's default queue.
    declared_queue: str | None = None
    priority: int = 0
    retry_policy: RetryPolicy | None = None
    timeout: float | None = None
    backend: str = "default"
    schedule: Schedule | None = None
    window: Window = field(default_factory=Window)
    max_instances: int = 1
    enabled: bool = True
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    #: Django's template engine calls any callable it resolves (``{{ t.name }}``
    #: would run the task function first); a task is data to a template.
    do_not_call_in_templates = True

    def __post_init__(self) -> None:
        self.is_async = inspect.iscoroutinefunction(self.func)
        self.module = getattr(self.func, "__module__", None) or "?"
        self.origin = f"{self.module}.{getattr(self.func, '__qualname__', '?')}"
        self._discoverable: bool | None = None
        try:
            self._params = set(inspect.signature(self.func).parameters)
        except (TypeError, ValueError):
            self._params = set()
        functools.update_wrapper(self, self.func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    @property
    def queue(self) -> str:
        """The queue its calls land in unless an enqueue names another: the
        one declared with ``queue=``, else the default queue of its backend
        alias (that backend's ``queue_name`` option, ``"default"`` unless set)."""
        if self.declared_queue is not None:
            return self.declared_queue
        return _handler().default_queue(self.backend)

    @queue.setter
    def queue(self, value: str | None) -> None:
        self.declared_queue = value

    @property
    def discoverable(self) -> bool:
        """Whether ``runscheduler`` finds this task: it imports the ``tasks.py``
        of the installed apps, so a task whose module belongs to no installed
        app is unknown to workers unless an installed app imports it. True
        until the app registry is ready (it cannot tell before)."""
        if self._discoverable is None:
            from django.apps import apps

            if not apps.apps_ready:
                return True
            self._discoverable = apps.get_containing_app_config(self.module) is not None
        return self._discoverable

    @property
    def policy(self) -> RetryPolicy:
        return self.retry_policy or default_policy()

    @property
    def effective_timeout(self) -> float | None:
        return self.timeout if self.timeout is not None else conf.get("TASK_TIMEOUT")

    # -- enqueueing -----------------------------------------------------------

    def using(self, **options: Any) -> BoundTask:
        """Options for one enqueue, for tasks whose own parameters are named
        like an option: ``fn.using(queue="emails").enqueue(queue=...)``."""
        return BoundTask(self, EnqueueOptions(**options))

    def enqueue(self, *args: Any, **kwargs: Any) -> TaskMessage:
        """Queue a call of this task; returns the stored message (``.id``).

        Options (keywords): ``run_at`` (aware datetime), ``delay`` (seconds or
        timedelta), ``priority`` (-100..100, higher first), ``queue`` and
        ``task_id`` (a caller-chosen id: enqueueing an id that is already
        queued or running does nothing).
        """
        options, kwargs = self._split_options(kwargs)
        return self._store(self.message(args, kwargs, options))

    def _store(self, message: TaskMessage) -> TaskMessage:
        """Store a message built by :meth:`message` on this task's backend."""
        self._warn_if_undiscoverable()
        backend = _handler().backends[self.backend]
        message.created = backend.enqueue_sync(message)
        if task_enqueued.receivers:
            task_enqueued.emit(backend, message, self, created=message.created, scheduled_time=message.scheduled_time)
        return message

    def _warn_if_undiscoverable(self) -> None:
        if self._discoverable is None and not self.discoverable:
            logger.warning(
                "task %s is declared in module %r, which belongs to no app in INSTALLED_APPS: "
                "runscheduler will not know it and will fail its calls as unknown. Add its app "
                "to INSTALLED_APPS (runscheduler imports the tasks.py of every installed app).",
                self.name, self.module,
            )

    async def aenqueue(self, *args: Any, **kwargs: Any) -> TaskMessage:
        """``enqueue`` for async code."""
        return await sync_to_async(self.enqueue)(*args, **kwargs)

    def enqueue_many(self, calls: Iterable[Sequence[Any] | Mapping[str, Any]], **options: Any) -> list[TaskMessage]:
        """Queue several calls of this task in one round trip to its backend
        (one statement, pipeline or publish batch per few hundred tasks);
        returns the messages built, in order.

        Each call is a tuple or list of positional arguments, or a dict of
        keyword arguments. Options (keywords) apply to every call:
        ``run_at``, ``delay``, ``priority``, ``queue``. Every call is
        checked before any is stored: one refused call stores none. Each
        message gets a new id, so none is de-duplicated; ``created`` stays
        None (the backend counts the new ones, it does not name them).
        """
        return self._store_many(self._messages(calls, options))

    async def aenqueue_many(
        self, calls: Iterable[Sequence[Any] | Mapping[str, Any]], **options: Any
    ) -> list[TaskMessage]:
        """``enqueue_many`` for async code."""
        return await sync_to_async(self.enqueue_many)(calls, **options)

    def _messages(self, calls: Iterable[Sequence[Any] | Mapping[str, Any]], options: dict[str, Any]) -> list[TaskMessage]:
        unknown = sorted(set(options) - set(ENQUEUE_OPTIONS))
        if unknown or "task_id" in options:
            raise EnqueueError(
                f"enqueue_many of task {self.name!r} takes the options run_at, delay, priority and queue; "
                f"got {', '.join(map(repr, unknown or ['task_id']))}"
                + (" (ids are per call: enqueue each call with its task_id)" if "task_id" in options else "")
            )
        shared = EnqueueOptions(**options) if options else NO_OPTIONS
        messages = []
        for index, call in enumerate(calls):
            if isinstance(call, Mapping):
                args: tuple | list = ()
                kwargs = dict(call)
            elif isinstance(call, (list, tuple)):
                args, kwargs = call, {}
            else:
                raise EnqueueError(
                    f"call {index} of enqueue_many of task {self.name!r} is a {type(call).__name__}; pass a tuple "
                    "or list of positional arguments, or a dict of keyword arguments, e.g. [(1,), (2,)]"
                )
            messages.append(self.message(args, kwargs, shared))
        return messages

    def _store_many(self, messages: list[TaskMessage]) -> list[TaskMessage]:
        if not messages:
            return messages
        self._warn_if_undiscoverable()
        backend = _handler().backends[self.backend]
        backend.enqueue_many_sync(messages)
        if task_enqueued.receivers:
            for message in messages:
                task_enqueued.emit(backend, message, self, created=None, scheduled_time=message.scheduled_time)
        return messages

    def _split_options(self, kwargs: dict[str, Any]) -> tuple[EnqueueOptions, dict[str, Any]]:
        if not kwargs:
            return NO_OPTIONS, kwargs
        picked = {k: kwargs.pop(k) for k in ENQUEUE_OPTIONS if k in kwargs and k not in self._params}
        return EnqueueOptions(**picked), kwargs

    def message(self, args: tuple | list, kwargs: dict[str, Any], options: EnqueueOptions) -> TaskMessage:
        """Build (and validate) the message for a call, without storing it."""
        check_json_arguments(self.name, args, kwargs)
        own = self.queue
        queue = options.queue or own
        # A declared task's own queue is one of the known ones by definition.
        check_queue(queue, self.name, own if registry.get(self.name) is self else None)
        priority = self.priority if options.priority is None else options.priority
        check_priority(priority, self.name)
        return TaskMessage(
            id=options.task_id or new_task_id(),
            name=self.name,
            args=list(args),
            kwargs=dict(kwargs),
            queue=queue,
            priority=priority,
            scheduled_time=scheduled_timestamp(options.run_at, options.delay),
            max_attempts=self.policy.max_attempts,
        )


@dataclass(frozen=True)
class BoundTask:
    task: Task
    options: EnqueueOptions

    def enqueue(self, *args: Any, **kwargs: Any) -> TaskMessage:
        return self.task._store(self.task.message(args, kwargs, self.options))

    async def aenqueue(self, *args: Any, **kwargs: Any) -> TaskMessage:
        return await sync_to_async(self.enqueue)(*args, **kwargs)

    def enqueue_many(self, calls: Iterable[Sequence[Any] | Mapping[str, Any]]) -> list[TaskMessage]:
        """:meth:`Task.enqueue_many` with these options."""
        options = {k: v for k, v in vars(self.options).items() if v is not None}
        return self.task._store_many(self.task._messages(calls, options))


# -- validation of calls -------------------------------------------------------


def check_json_arguments(name: str, args: tuple | list, kwargs: dict[str, Any]) -> None:
    if plain_values(args) and plain_values(kwargs.values()):
        return  # scalars only (keyword names are str): nothing to encode
    try:
        _strict_json((args, kwargs))
        return  # the common case: one pass over every argument
    except (TypeError, ValueError, RecursionError):
        pass  # find the argument to name, and a hint
    labelled = [(f"positional argument {i}", v) for i, v in enumerate(args)]
    labelled += [(f"argument {k!r}", v) for k, v in kwargs.items()]
    for label, value in labelled:
        problem = json_problem(value)
        if problem is not None:
            reason, hint = problem
            raise EnqueueError(f"{label} of task {name!r} is not JSON-serialisable ({reason}); {hint}")


_strict_json = json.JSONEncoder(allow_nan=False, check_circular=True).encode


def json_problem(value: object) -> tuple[str, str] | None:
    """Why ``value`` cannot be a task argument and what to pass instead; None if it can be."""
    refused: list[object] = []

    def refuse(obj: object) -> None:
        refused.append(obj)
        raise TypeError(f"{type(obj).__name__} is not JSON")

    try:
        json.dumps(value, allow_nan=False, default=refuse)
    except (TypeError, ValueError) as exc:
        return str(exc), json_hint(refused[0]) if refused else PLAIN_DATA
    return None


PLAIN_DATA = "pass plain data: str, int, float (not NaN or infinity), bool, None, and lists and dicts (str keys) of them"


def json_hint(value: object) -> str:
    """What to pass instead of ``value``, which JSON cannot hold."""
    from django.db.models import Model

    if isinstance(value, (datetime, date, time_of_day)):
        kind = type(value).__name__
        return (
            f"pass it as an ISO 8601 string, value.isoformat(), which the task reads back with {kind}.fromisoformat()"
            + (", or as epoch seconds, value.timestamp()" if isinstance(value, datetime) else "")
        )
    if isinstance(value, timedelta):
        return "pass its seconds (value.total_seconds())"
    if isinstance(value, (Decimal, uuid.UUID)):
        return f"pass it as a string (str(value); the task reads it back with {type(value).__name__}(text))"
    if isinstance(value, (set, frozenset)):
        return "pass a list (sorted(value))"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "pass text (value.decode()) or base64 (base64.b64encode(value).decode())"
    if isinstance(value, Model):
        return "pass the instance's pk (instance.pk) and load it in the task"
    return PLAIN_DATA


def known_queues(
    tasks: TaskRegistry | None = None, *, default_queue: str = DEFAULT_QUEUE, backend: str | None = None
) -> set[str]:
    """The queues a project knows: ``SYMPHRA["QUEUES"]``, the queues its
    tasks declare (in ``tasks``, default: every declared task; only those on
    alias ``backend`` if given) and ``default_queue``."""
    declared = (registry if tasks is None else tasks).queue_names(backend)
    return set(conf.get("QUEUES")) | declared | {default_queue}


def check_queue(queue: str, name: str, own_queue: str | None = None) -> None:
    """EnqueueError unless ``queue`` is known (see :func:`known_queues`).
    ``own_queue``: the queue of the task being enqueued, when it is declared."""
    if queue == own_queue or queue == DEFAULT_QUEUE or queue in conf.get("QUEUES"):
        return  # known without scanning every declared task
    known = known_queues()
    if queue not in known:
        raise EnqueueError(
            f"unknown queue {queue!r} for task {name!r}; known queues are "
            f"{', '.join(sorted(known))}. Add it to settings.SYMPHRA['QUEUES'] or "
            "declare a task with queue=..."
        )


def check_priority(priority: object, name: str) -> None:
    if isinstance(priority, bool) or not isinstance(priority, int) or not (
        MIN_PRIORITY <= priority <= MAX_PRIORITY
    ):
        raise EnqueueError(
            f"priority {priority!r} of task {name!r} is invalid; use an integer from "
            f"{MIN_PRIORITY} to {MAX_PRIORITY} (higher runs first)"
        )


def scheduled_timestamp(run_at: datetime | None, delay: float | timedelta | None) -> float:
    if run_at is not None and delay is not None:
        raise EnqueueError("pass run_at or delay, not both")
    if delay is not None:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise EnqueueError(f"delay must be seconds >= 0 or a timedelta, got {delay!r}")
        return time.time() + seconds
    if run_at is None:
        return time.time()
    if not isinstance(run_at, datetime):
        raise EnqueueError(f"run_at must be a datetime, got {run_at!r}")
    if run_at.tzinfo is None:
        if settings.USE_TZ:
            raise EnqueueError(naive_datetime_error("run_at", run_at, "USE_TZ is True"))
        run_at = dj_timezone.make_aware(run_at)
    return run_at.timestamp()


# -- declaring -------------------------------------------------------------------


def declare(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    queue: str | None = None,
    priority: int = 0,
    retry_policy: RetryPolicy | str | dict | None = None,
    timeout: float | timedelta | None = None,
    backend: str = "default",
    schedule: Schedule | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    max_instances: int = 1,
    enabled: bool = True,
    tags: tuple[str, ...] | list[str] = (),
    metadata: dict[str, Any] | None = None,
    target: TaskRegistry | None = None,
) -> Task:
    """Declare ``func`` as a task and register it; see ``task`` for the options.

    Without ``queue``, its calls land in the default queue of its backend
    alias (the alias's ``queue_name`` option, ``"default"`` unless set).
    """
    if target is None:
        # Tasks of the project's registry are found by the app's autodiscovery.
        from symphra_django.installation import require_installed

        require_installed()
    if isinstance(func, Task):
        func = func.func
    if not callable(func):
        raise TaskDeclarationError(f"a task must be a function, got {func!r}")
    task_name = name or f"{func.__module__}.{func.__qualname__}"
    if "<locals>" in task_name and name is None:
        raise TaskDeclarationError(
            f"task {task_name!r} is defined inside a function; declare it at module "
            "level (in a tasks.py) or give it an explicit name=..."
        )
    from symphra_django.utils.identifiers import validate_identifier

    try:
        if queue is not None:
            validate_identifier(queue, "queue")
    except ValueError as exc:
        raise TaskDeclarationError(f"task {task_name!r}: {exc}") from None
    try:
        check_priority(priority, task_name)
    except EnqueueError as exc:
        raise TaskDeclarationError(str(exc)) from None
    try:
        policy = None if retry_policy is None else RetryPolicy.from_value(retry_policy)
    except ValueError as exc:
        raise TaskDeclarationError(f"task {task_name!r}: {exc}") from None
    if isinstance(timeout, timedelta):
        timeout = timeout.total_seconds()
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise TaskDeclarationError(f"task {task_name!r}: timeout must be seconds > 0, got {timeout!r}")
    if isinstance(max_instances, bool) or not isinstance(max_instances, int) or max_instances < 1:
        raise TaskDeclarationError(f"task {task_name!r}: max_instances must be an integer >= 1")
    window = Window(_window_time(start_time, "start_time", task_name), _window_time(end_time, "end_time", task_name))
    declared = Task(
        func=func,
        name=task_name,
        declared_queue=queue,
        priority=priority,
        retry_policy=policy,
        timeout=timeout,
        backend=backend,
        schedule=schedule,
        window=window,
        max_instances=max_instances,
        enabled=enabled,
        tags=tuple(tags),
        metadata=dict(metadata or {}),
    )
    if target is not None:
        # A Scheduler's own registry (symphra-scheduler style): the process
        # that declares these tasks runs them, nothing needs to find them.
        declared._discoverable = True
    return (registry if target is None else target).register(declared)


def _window_time(value: datetime | None, what: str, name: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TaskDeclarationError(f"task {name!r}: {what} must be an aware datetime, got {value!r}")
    return value.timestamp()


def task(func: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Declare an on-demand task, bare (``@task``) or with options
    (``@task(name=, queue=, priority=, retry_policy=, timeout=, backend=)``)."""
    if func is not None:
        return declare(func, **options)
    return lambda f: declare(f, **options)
