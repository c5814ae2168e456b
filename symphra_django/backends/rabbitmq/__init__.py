"""The RabbitMQ backend: the broker carries tasks, a ledger keeps their state.

``backend`` holds :class:`RabbitMQBackend`; ``link`` the one pika connection
and its I/O thread; ``topology`` the exchanges and queues it declares;
``publisher`` publishing with confirms; ``inbox`` the deliveries this process
holds and their leases; ``ledger`` (with ``ledger_sql``) the per-task state
in the project's database (due times, priorities, de-duplication);
``failed`` the failed store.

``RabbitMQBackend`` is imported on first access, so that projects without
``pika`` can import this package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RabbitMQBackend"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from symphra_django.backends.rabbitmq import backend

        return getattr(backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
