"""Each scheduler process in its backend's worker registry: registered at
start, a heartbeat at most once per interval with what it runs now, gone
after the timeout, removed at a clean stop, stopped on request."""

from __future__ import annotations

import logging
import threading

import pytest
from django.test import override_settings

from symphra_django import Scheduler
from symphra_django.backends import MemoryBackend
from symphra_django.backends.workers import ALIVE, GONE, STOPPING, list_workers
from symphra_django.runtime.heartbeat import Heartbeat
from symphra_django.runtime.worker import worker_id
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.testing import wait_until
from tests.support.clock import FakeClock


class CountingBackend(MemoryBackend):
    def __init__(self, **options) -> None:
        super().__init__(alias="default", **options)
        self.saves = 0

    def save_worker_sync(self, worker_id, record, ttl, *, fresh=False):
        self.saves += 1
        return super().save_worker_sync(worker_id, record, ttl, fresh=fresh)


class NoRegistry(MemoryBackend):
    """A backend as custom ones were written before the registry existed."""

    reports_workers = False  # type: ignore[assignment]


class BrokenRegistry(MemoryBackend):
    def save_worker_sync(self, worker_id, record, ttl, *, fresh=False):
        raise ConnectionError("registry down")


def test_a_heartbeat_writes_at_most_once_per_interval_whatever_calls_it():
    clock = FakeClock()
    backend = CountingBackend(clock=clock)
    heartbeat = Heartbeat(backend, queues=["default"], threads=2, beat=True, interval=5.0, clock=clock)
    heartbeat.start()
    for _ in range(100):
        heartbeat.tick()
    assert backend.saves == 1
    clock.advance(5.0)
    heartbeat.tick()
    heartbeat.tick()
    assert backend.saves == 2


def test_a_process_that_stops_heartbeating_is_shown_as_gone_then_dropped():
    clock = FakeClock()
    backend = MemoryBackend(alias="default", clock=clock)
    heartbeat = Heartbeat(backend, queues=["default"], threads=2, beat=False, interval=1.0, clock=clock)
    heartbeat.start()
    [record] = list_workers(backend).workers
    assert record.worker_id == worker_id() and record.state(clock(), timeout=30) == ALIVE
    clock.advance(31)  # no tick: the process was killed
    [record] = list_workers(backend).workers
    assert record.state(clock(), timeout=30) == GONE
    clock.advance(heartbeat.ttl)
    assert list_workers(backend).workers == []


def test_a_scheduler_registers_lists_its_running_tasks_and_leaves_at_a_clean_stop():
    backend = MemoryBackend(alias="default")
    registry = TaskRegistry()
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    scheduler = Scheduler(backend, registry=registry, beat=False, workers=2, poll_interval=0.01)
    held = scheduler.register_task(hold, name="tests.hold")
    with override_settings(SYMPHRA={"HEARTBEAT_INTERVAL": 0.05}):
        scheduler.start()
        try:
            [record] = list_workers(backend).workers
            assert (record.threads, record.queues, record.role) == (2, ["default"], "main")
            backend.enqueue_sync(held.message([], {}, held.using().options))
            assert started.wait(5)
            running = wait_until(lambda: list_workers(backend).workers[0].running, timeout=5,
                                 message="the running task in the heartbeat")
            assert [(t.name, t.queue) for t in running] == [("tests.hold", "default")]
            assert running[0].lease_expires is not None
        finally:
            release.set()
            scheduler.stop()
    assert list_workers(backend).workers == []


def test_a_stop_request_through_the_registry_stops_the_scheduler_like_sigterm(caplog):
    caplog.set_level(logging.WARNING, "symphra_django")
    backend = MemoryBackend(alias="default")
    scheduler = Scheduler(backend, registry=TaskRegistry(), beat=False, workers=1, poll_interval=0.01)
    requested = threading.Event()
    with override_settings(SYMPHRA={"HEARTBEAT_INTERVAL": 0.05}):
        runner = threading.Thread(target=scheduler.run_until, args=(requested,))
        runner.start()
        wait_until(lambda: list_workers(backend).workers, timeout=5, message="the registration")
        assert backend.request_worker_stop_sync(worker_id())
        [record] = list_workers(backend).workers
        assert record.state(record.heartbeat_at, timeout=30) == STOPPING
        runner.join(10)
    assert not runner.is_alive()
    assert scheduler.stop_requested.is_set()
    assert any("asked to stop accepting work" in r.getMessage() for r in caplog.records)


def test_a_beat_only_process_heartbeats_from_the_beat_loop():
    backend = MemoryBackend(alias="default")
    scheduler = Scheduler(backend, registry=TaskRegistry(), work=False, beat=True)
    with override_settings(SYMPHRA={"HEARTBEAT_INTERVAL": 0.01}):
        scheduler.start()
        try:
            record = wait_until(lambda: next((r for r in list_workers(backend).workers if r.beat_at), None),
                                timeout=5, message="a heartbeat with the beat's last loop")
        finally:
            scheduler.stop()
    assert (record.threads, record.beat) == (0, True)


def test_a_backend_without_the_registry_runs_as_before(events):
    from tests.sampleapp import tasks as sample

    backend = NoRegistry(alias="default")
    for i in range(3):
        backend.enqueue_sync(sample.remember.message([i], {}, sample.remember.using().options))
    Scheduler(backend, beat=False, workers=1, poll_interval=0.01).run_burst()
    assert sorted(e[1] for e in events) == [0, 1, 2]
    assert list_workers(backend).reported is False


def test_a_registry_that_fails_is_logged_once_and_never_stops_the_work(caplog, events):
    from tests.sampleapp import tasks as sample

    caplog.set_level(logging.WARNING, "symphra_django")
    backend = BrokenRegistry(alias="default")
    for i in range(3):
        backend.enqueue_sync(sample.remember.message([i], {}, sample.remember.using().options))
    Scheduler(backend, beat=False, workers=1, poll_interval=0.01).run_burst()
    assert sorted(e[1] for e in events) == [0, 1, 2]
    assert sum("could not save the heartbeat" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("hostile", ['{"pid": 1e999}', "[" * 10_000, '{"running": "x"}', "\udcff"])
def test_a_hostile_record_never_stops_the_listing(hostile):
    backend = MemoryBackend(alias="default")
    backend.save_worker_sync("bad:1", hostile, 60)
    Heartbeat(backend, queues=["default"], threads=1, beat=False).start()
    states = {r.worker_id: r.unreadable is None for r in list_workers(backend).workers}
    assert states == {"bad:1": False, worker_id(): True}


@pytest.mark.parametrize(("interval", "timeout", "warned"), [(5, 30, False), (5, 10, False), (5, 9, True)])
def test_a_worker_timeout_under_two_heartbeats_is_warned_about(interval, timeout, warned):
    from symphra_django.checks import check_settings

    with override_settings(SYMPHRA={"HEARTBEAT_INTERVAL": interval, "WORKER_TIMEOUT": timeout}):
        ids = [message.id for message in check_settings()]
    assert ("symphra_django.W004" in ids) is warned
