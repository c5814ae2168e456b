"""The database backend: the queue in a Django model, claimed with SQL.

``backend`` holds :class:`DatabaseBackend` (the ``QueueBackend``), ``claims``
the hand-written claim and acknowledgement statements per engine, ``config``
which database each alias uses, ``inspection`` the admin's read-only queries,
``history`` the finished-task history and its pruning, ``checks`` the system
checks, ``times`` epoch seconds ⇄ model datetimes.

``DatabaseBackend`` and ``SQLiteBackend`` are imported on first access, so
that importing this package does not load the models before the app registry
is ready.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DatabaseBackend", "SQLiteBackend"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from symphra_django.backends.database import backend

        return getattr(backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
