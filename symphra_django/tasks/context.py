"""The message a worker is running, for code inside a task.

``current_message()`` returns the :class:`~symphra_django.messages.TaskMessage`
being executed (its ``id``, ``attempts``, ``meta["tick"]`` for periodic runs,
…) or None outside a task.
"""

from __future__ import annotations

from contextvars import ContextVar

from symphra_django.messages import TaskMessage

_current: ContextVar[TaskMessage | None] = ContextVar("symphra_current_message", default=None)


def current_message() -> TaskMessage | None:
    return _current.get()


def set_current(message: TaskMessage | None):
    return _current.set(message)


def reset_current(token) -> None:
    _current.reset(token)
