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

__version__ = "0.1.0"

_EXPORTS = {
    "task": "tasks",
    "Task": "tasks",
    "cron": "periodic",
    "interval": "periodic",
    "every": "periodic",
    "once": "periodic",
    "hourly": "periodic",
    "daily": "periodic",
    "weekly": "periodic",
    "monthly": "periodic",
    "scheduled": "periodic",
    "RetryPolicy": "retry",
    "RetryStrategy": "retry",
    "Scheduler": "scheduler",
    "TaskMessage": "messages",
    "registry": "registry",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
