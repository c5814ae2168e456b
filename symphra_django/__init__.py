"""symphra_django: background tasks and periodic schedules for Django.

Public API::

    from symphra_django import (
        task, cron, interval, every, once, hourly, daily, weekly, monthly,
        scheduled, RetryPolicy, Scheduler,
    )

Names are imported lazily, so importing the package does not need Django's
settings (``INSTALLED_APPS = ["symphra_django", ...]`` works as usual).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from symphra_django import _moved

__version__ = "0.1.0"

_EXPORTS = {
    "task": "tasks",
    "Task": "tasks",
    "cron": "tasks",
    "interval": "tasks",
    "every": "tasks",
    "once": "tasks",
    "hourly": "tasks",
    "daily": "tasks",
    "weekly": "tasks",
    "monthly": "tasks",
    "scheduled": "tasks",
    "RetryPolicy": "tasks",
    "RetryStrategy": "tasks",
    "registry": "tasks",
    "Scheduler": "runtime.scheduler",
    "TaskMessage": "messages",
}


_moved.install()


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
