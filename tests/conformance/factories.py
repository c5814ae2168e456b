"""One factory per built-in backend, for the contract kit and other tests.

A factory makes backends that share one fresh, isolated namespace (so a second
instance sees what the first stored, as a second process would) and can plant
a raw, corrupt payload in a queue (the kit's ``store_raw_payload`` hook).
``test_contract.py`` runs ``symphra_django.testing`` against each of them;
other tests use ``FACTORIES`` to run on every real server.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from symphra_django.backends import MemoryBackend, NotSupported, QueueBackend
from symphra_django.messages import TaskMessage


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

    def make_unconnected(self, **options: object) -> QueueBackend:
        """A backend on this namespace that its user connects (the kit does);
        teardown still disconnects it and removes the namespace."""
        backend = self.build(**options)
        self.made.append(backend)
        return backend

    def make(self, **options: object) -> QueueBackend:
        """A connected backend on this namespace."""
        backend = self.make_unconnected(**options)
        backend.connect_sync()
        return backend

    def prepare(self, request) -> None:
        """Set up what the backend needs for this test (e.g. its database)."""

    def inject_corrupt(self, backend: QueueBackend, queue: str, raw: bytes) -> bytes | str | None:
        """Store ``raw`` as if it were a task payload on ``queue``, due now;
        returns what was stored (None where no payload is stored)."""
        raise NotSupported(f"{type(self).__name__} cannot store a raw payload")

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
        # Memory holds objects, not payloads: what stands for an unreadable
        # one is a stored message whose fields no longer validate (meta is
        # the raw bytes), which its delivery's copy refuses like a payload.
        planted = TaskMessage(name="<planted>", id=f"corrupt-{self.namespace}", queue=queue)
        planted.meta = raw  # type: ignore[assignment]
        with backend._lock:  # type: ignore[attr-defined]
            backend._push(backend._queue(queue), planted, time.time())  # type: ignore[attr-defined]


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
