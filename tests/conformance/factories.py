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
from symphra_django.exceptions import CorruptPayload
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
        """Store ``raw`` as if it were a task payload on ``queue``, due now,
        with the backend's raw client as another program would; returns what
        was stored (None where no payload is stored)."""
        raise NotSupported(f"{type(self).__name__} cannot store a raw payload")

    def inject_forged(self, backend: QueueBackend, queue: str, task: TaskMessage) -> None:
        """Store ``task`` on ``queue``, due now, with a valid payload but the
        backend's bookkeeping for it forged (the kit's ``store_forged_entry``)."""
        raise NotSupported(f"{type(self).__name__} cannot forge an entry's bookkeeping")

    def raw_id(self) -> str:
        """A fresh id for an entry planted behind the backend's back."""
        return f"raw-{uuid.uuid4().hex[:12]}"

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

    def inject_corrupt(self, backend: QueueBackend, queue: str, raw: bytes) -> bytes | None:
        # Memory holds objects, not payloads. A payload that reads is planted
        # as the message it reads as; what stands for an unreadable one is a
        # planted invalid object (meta is the raw bytes), which its delivery's
        # copy refuses like a payload.
        try:
            planted = TaskMessage.from_json(raw)
        except CorruptPayload:
            planted = TaskMessage(name="<planted>", id=self.raw_id(), queue=queue)
            planted.meta = raw  # type: ignore[assignment]
            stored = None
        else:
            planted.queue = queue
            stored = raw
        with backend._lock:  # type: ignore[attr-defined]
            backend._push(backend._queue(queue), planted, time.time())  # type: ignore[attr-defined]
        return stored

    def inject_forged(self, backend: QueueBackend, queue: str, task: TaskMessage) -> None:
        # Its bookkeeping is the object's delivery state and the heap entry
        # that orders it: a lease nobody holds, attempts beyond any limit,
        # and a heap priority its message does not have.
        task.queue = queue
        task.attempts = 10**6
        task.lease_token, task.lease_expires = "forged", 0.0
        with backend._lock:  # type: ignore[attr-defined]
            q = backend._queue(queue)  # type: ignore[attr-defined]
            seq = next(backend._seq)  # type: ignore[attr-defined]
            q.pending[task.id] = (seq, task)
            q.ready.push((-(10**7), task.scheduled_time, seq, task.id))


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
