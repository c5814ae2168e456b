"""One factory per backend for the shared conformance suite.

A factory makes backends that share one fresh, isolated namespace (so a second
instance sees what the first stored, as a second process would) and can plant
a raw, corrupt payload in a queue for C12. A new backend joins the suite by
adding its factory to ``FACTORIES``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from symphra_django.backends import MemoryBackend, QueueBackend


class BackendFactory:
    #: Services (tests/support/services.py) the backend needs.
    services: tuple[str, ...] = ()
    #: pytest-django database access the backend needs (None: none).
    databases: str | set[str] | None = None

    def __init__(self) -> None:
        self.namespace = "t" + uuid.uuid4().hex[:10]
        self.made: list[QueueBackend] = []

    def build(self, **options: object) -> QueueBackend:
        raise NotImplementedError

    def make(self, **options: object) -> QueueBackend:
        backend = self.build(**options)
        backend.connect_sync()
        self.made.append(backend)
        return backend

    def prepare(self, request) -> None:
        """Set up what the backend needs for this test (e.g. its database)."""

    def inject_corrupt(self, backend: QueueBackend, queue: str, raw: bytes) -> None:
        """Store ``raw`` as if it were a task payload on ``queue``, due now."""
        raise NotImplementedError

    def teardown(self) -> None:
        for backend in self.made:
            backend.disconnect_sync()


class MemoryFactory(BackendFactory):
    def __init__(self) -> None:
        super().__init__()
        self.shared: MemoryBackend | None = None

    def build(self, **options: object) -> QueueBackend:
        # Every "instance" is the same object: memory has no second process.
        if self.shared is None:
            self.shared = MemoryBackend(alias="conformance", **options)
        return self.shared

    def inject_corrupt(self, backend: QueueBackend, queue: str, raw: bytes) -> None:
        raise NotImplementedError("memory holds objects, not payloads")


# Factories in their own modules subclass BackendFactory, defined above.
from .factory_database import MariaDBFactory, PostgreSQLFactory, SQLiteFactory  # noqa: E402

def _redis_factory() -> BackendFactory:
    from .factory_redis import RedisFactory

    return RedisFactory()


def _rabbitmq_factory() -> BackendFactory:
    from .factory_rabbitmq import RabbitMQFactory

    return RabbitMQFactory()


FACTORIES: dict[str, Callable[[], BackendFactory]] = {
    "memory": MemoryFactory,
    "redis": _redis_factory,
    "rabbitmq": _rabbitmq_factory,
    "sqlite": SQLiteFactory,
    "postgresql": PostgreSQLFactory,
    "mariadb": MariaDBFactory,
}
