"""``runscheduler --burst`` on every built-in backend: it exits only once the
work is done, entries written into storage by other programs included."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from symphra_django import Scheduler
from symphra_django.backends import QueueBackend
from symphra_django.messages import TaskMessage
from symphra_django.runtime.ticks import MemoryLedger
from symphra_django.tasks.base import declare
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.testing.hostile import BAD_PAYLOADS
from tests.support import services

from .factories import FACTORIES, BackendFactory


@pytest.fixture(params=sorted(FACTORIES))
def factory(request: pytest.FixtureRequest) -> Iterator[BackendFactory]:
    made = FACTORIES[request.param]()
    for service in made.services:
        services.require(service)
    made.prepare(request)
    if made.databases is not None:
        request.getfixturevalue("transactional_db")
    yield made
    made.teardown()


def test_burst_files_raw_entries_runs_everything_else_and_exits(factory: BackendFactory) -> None:
    backend: QueueBackend = factory.make()
    ran: list[int] = []
    registry = TaskRegistry()
    declare(ran.append, name="burst.record", retry_policy="no_retry", target=registry)
    kinds = ["not-json", "nan-time", "deeply-nested"]
    for i, kind in enumerate(kinds):
        backend.enqueue_sync(TaskMessage(name="burst.record", args=[i]))
        factory.inject_corrupt(backend, "default", BAD_PAYLOADS[kind][0]())
    backend.enqueue_sync(TaskMessage(name="burst.record", args=[len(kinds)]))

    scheduler = Scheduler(backend, registry=registry, ledger=MemoryLedger(), beat=False,
                          workers=2, poll_interval=0.05)
    assert scheduler.run_burst() is True

    assert sorted(ran) == list(range(len(kinds) + 1))
    stats = backend.get_stats_sync()
    assert (stats.ready, stats.in_flight, stats.failed) == (0, 0, len(kinds))
