"""The contract kit (``symphra_django.testing``) on every built-in backend.

One class per backend, each on its real server through the factories of
``factories.py``: a server that is down skips its class locally and fails it
under CI (``tests/services.py``). The rules themselves live in the kit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ClassVar

import pytest

from symphra_django.backends import QueueBackend
from symphra_django.messages import TaskMessage
from symphra_django.testing import BackendContractTests
from tests.support import services

from .factories import FACTORIES, BackendFactory


class BuiltInBackendContract(BackendContractTests):
    """The kit on backends made by ``FACTORIES[factory_name]``."""

    factory_name: ClassVar[str]

    @pytest.fixture
    def backend_maker(self, request: pytest.FixtureRequest) -> Iterator[Callable[..., QueueBackend]]:
        factory = FACTORIES[self.factory_name]()
        for service in factory.services:
            services.require(service)
        factory.prepare(request)
        if factory.databases is not None:
            request.getfixturevalue("transactional_db")
        self.factory: BackendFactory = factory
        yield factory.make_unconnected
        factory.teardown()

    def store_raw_payload(self, backend: QueueBackend, queue: str, raw: bytes) -> bytes | str | None:
        return self.factory.inject_corrupt(backend, queue, raw)

    def store_forged_entry(self, backend: QueueBackend, queue: str, task: TaskMessage) -> None:
        self.factory.inject_forged(backend, queue, task)


class TestMemoryBackend(BuiltInBackendContract):
    factory_name = "memory"


class TestSQLiteBackend(BuiltInBackendContract):
    factory_name = "sqlite"


class TestPostgreSQLBackend(BuiltInBackendContract):
    factory_name = "postgresql"


class TestMariaDBBackend(BuiltInBackendContract):
    factory_name = "mariadb"


class TestRedisBackend(BuiltInBackendContract):
    factory_name = "redis"


class TestRabbitMQBackend(BuiltInBackendContract):
    factory_name = "rabbitmq"


def test_every_factory_runs_the_kit() -> None:
    covered = {cls.factory_name for cls in BuiltInBackendContract.__subclasses__()}
    assert covered == set(FACTORIES)
