"""Django signals for the life of a task (the native API: ``@task``, ``enqueue``
and ``runscheduler``), for Sentry, audit logs or your own metrics::

    from django.dispatch import receiver

    from symphra_django.signals import task_failed

    @receiver(task_failed)
    def report(sender, task_name, error, **kwargs):
        ...

Every signal is sent with ``sender`` = the class of the queue backend and
these keyword arguments:

``message``
    the :class:`~symphra_django.messages.TaskMessage` (read it, do not change it);
``task``
    the declared :class:`~symphra_django.tasks.base.Task`, or None when the
    worker does not know the message's name;
``task_id``, ``task_name``, ``queue``
    the message's id, task name and queue (as stored: bound their size before
    you store them);
``backend``
    the alias of the backend (``"default"``);
``attempt``
    the delivery this is, counted from 1 (0 for ``task_enqueued``).

and, per signal:

- :data:`task_enqueued`: ``created`` (False when a task of that id was
  already queued, so nothing was stored), ``scheduled_time`` (epoch seconds).
  Sent in the process that enqueues, after the task is stored.
- :data:`task_started`: ``lateness`` (seconds from the time it was due to
  now; 0 if it started early by the clocks' difference).
- :data:`task_succeeded`: ``duration`` (seconds).
- :data:`task_retried`: ``duration``, ``exception`` (what the task raised),
  ``error`` (``"Type: text"``, bounded), ``delay`` (seconds until the next run).
- :data:`task_failed`: ``duration`` and ``exception`` (None for a task that
  never ran), ``error``, ``traceback`` (bounded text, or None) and ``ran``
  (False when it went to the failed store without running: an unknown task
  name). Sent once per task that fails for good.
- :data:`task_lease_lost`: the worker running it no longer holds its lease
  (it ran past the lease and another worker may take it, or the backend
  lost it): the task may run twice. ``attempt``, no ``duration``.

Receivers run in the thread of the worker (or of the caller of
``enqueue``), between tasks: keep them quick. Whatever a receiver raises,
``BaseException`` included, is logged (bounded, on the
``symphra_django.signals`` logger) and ignored: the task, the enqueue and
the worker go on. When no receiver is connected, sending costs one
attribute check.
"""

from __future__ import annotations

import logging
import time
import traceback as tb
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.dispatch import Signal

from symphra_django.utils.text import shorten, shorten_error, shorten_name

if TYPE_CHECKING:
    from symphra_django.backends.base import QueueBackend
    from symphra_django.messages import TaskMessage
    from symphra_django.tasks.base import Task

logger = logging.getLogger("symphra_django.signals")

__all__ = [
    "TaskSignal",
    "task_enqueued",
    "task_failed",
    "task_lease_lost",
    "task_retried",
    "task_started",
    "task_succeeded",
]

#: Longest traceback of a failing receiver in the log.
RECEIVER_TRACEBACK_LIMIT = 4096
#: A receiver that keeps failing is logged at most once per this many seconds
#: (with the number of failures in between).
RECEIVER_LOG_INTERVAL = 60.0


class TaskSignal(Signal):
    """A Django ``Signal`` sent about one task message; see the module docs
    for the keyword arguments. :meth:`emit` is how symphra_django sends it."""

    def __init__(self, name: str) -> None:
        super().__init__(use_caching=True)
        self.name = name
        self._failures: dict[str, tuple[float, int]] = {}

    def __repr__(self) -> str:
        return f"<TaskSignal {self.name}>"

    def emit(
        self,
        backend: QueueBackend,
        message: TaskMessage,
        task: Task | None,
        **named: Any,
    ) -> None:
        """Call every receiver with the common arguments of ``message`` plus
        ``named``; a receiver's error (any ``BaseException``) is logged and
        the other receivers still run. Never raises."""
        try:
            sync_receivers, async_receivers = self._live_receivers(type(backend))
            if not sync_receivers and not async_receivers:
                return
            named = {
                "message": message,
                "task": task,
                "task_id": message.id,
                "task_name": message.name,
                "queue": message.queue,
                "backend": backend.alias,
                "attempt": message.attempts,
                **named,
            }
            sender = type(backend)
            for receiver in sync_receivers:
                try:
                    receiver(signal=self, sender=sender, **named)
                except BaseException as exc:  # noqa: BLE001 - a receiver cannot break a worker or an enqueue
                    self._receiver_failed(receiver, exc)
            for receiver in async_receivers:
                try:
                    async_to_sync(receiver)(signal=self, sender=sender, **named)
                except BaseException as exc:  # noqa: BLE001
                    self._receiver_failed(receiver, exc)
        except BaseException:  # even a broken receiver list stays here
            logger.error("could not send %s", self.name, exc_info=True)

    def _receiver_failed(self, receiver: Any, exc: BaseException) -> None:
        try:
            name = shorten_name(getattr(receiver, "__qualname__", None) or repr(receiver))
            now = time.monotonic()
            last, skipped = self._failures.get(name, (None, 0))
            if last is not None and now - last < RECEIVER_LOG_INTERVAL:
                self._failures[name] = (last, skipped + 1)
                return
            self._failures[name] = (now, 0)
            if len(self._failures) > 100:
                self._failures.pop(next(iter(self._failures)))
            try:
                detail = str(exc)
            except Exception:  # noqa: BLE001 - the exception itself may be broken
                detail = "<str() failed>"
            trace = shorten("".join(tb.format_exception(exc)), RECEIVER_TRACEBACK_LIMIT, keep_end=True)
            logger.error(
                "receiver %s of %s raised %s (ignored: the task goes on)%s\n%s",
                name, self.name, shorten_error(f"{type(exc).__name__}: {detail}"),
                f"; {skipped} more failure(s) of it were not logged" if skipped else "", trace,
            )
        except BaseException:  # noqa: BLE001 - logging the failure must not fail either
            pass


#: A task was stored by ``enqueue``/``aenqueue`` (or a periodic tick).
task_enqueued = TaskSignal("task_enqueued")
#: A worker is about to run a task.
task_started = TaskSignal("task_started")
#: A task returned.
task_succeeded = TaskSignal("task_succeeded")
#: A task raised and will run again after ``delay`` seconds.
task_retried = TaskSignal("task_retried")
#: A task went to the failed store: it failed its last attempt, raised an
#: error its policy does not retry, or could not run at all (``ran=False``).
task_failed = TaskSignal("task_failed")
#: The worker running a task lost its lease: the task may run twice.
task_lease_lost = TaskSignal("task_lease_lost")
