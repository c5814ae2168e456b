"""Queue backends: the public contract, the built-in backends and the aliases.

``from symphra_django.backends import QueueBackend, MemoryBackend,
DatabaseBackend, RedisBackend, RabbitMQBackend, backends`` (and
``FailedQuery``, ``FailedPage`` for searching failed stores). The Redis and
RabbitMQ backends are imported on first use, so their client libraries are
only needed by projects that use them.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from symphra_django.backends.base import NotSupported, QueueBackend
from symphra_django.backends.failed_store import FailedPage, FailedQuery
from symphra_django.backends.handler import SHORT_NAMES, backends
from symphra_django.backends.memory import MemoryBackend

_LAZY = {
    "DatabaseBackend": ("database", "DatabaseBackend"),
    "SQLiteBackend": ("database", "SQLiteBackend"),
    "RedisBackend": ("redis", "RedisBackend"),
    "RabbitMQBackend": ("rabbitmq", "RabbitMQBackend"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SHORT_NAMES",
    "DatabaseBackend",
    "FailedPage",
    "FailedQuery",
    "MemoryBackend",
    "NotSupported",
    "QueueBackend",
    "RabbitMQBackend",
    "RedisBackend",
    "SQLiteBackend",
    "backends",
]
