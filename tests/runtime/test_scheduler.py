"""Scheduler lifecycle: start-up retries, backend faults mid-run, connections."""

from __future__ import annotations

import logging
import threading

import pytest

from symphra_django import Scheduler
from symphra_django.backends import MemoryBackend
from symphra_django.exceptions import BackendUnavailable
from symphra_django.runtime.runner import Runner
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.runtime.scheduler import connect_backend
from symphra_django.tasks.base import declare
from tests.sampleapp import tasks as sample


class Unreachable(MemoryBackend):
    def health_check_sync(self) -> bool:
        return False

    def describe(self) -> str:
        return "Unreachable(redis://:***@nowhere:6379/0)"


def test_an_unreachable_backend_at_start_fails_clearly_after_bounded_retries(caplog):
    caplog.set_level(logging.WARNING, "symphra_django")
    with pytest.raises(BackendUnavailable, match=r"Unreachable\(.*\) is unreachable after 3 attempt\(s\)"):
        connect_backend(Unreachable(), retries=2)
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2
    assert ":***@" in retries[0].getMessage()


class FlakyOnClaim(MemoryBackend):
    """Fails its first claims, as a backend that dropped its connection."""

    def __init__(self, failures: int) -> None:
        super().__init__(alias="default")
        self.failures = failures

    def dequeue_sync(self, *args, **kwargs):
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("connection reset by peer")
        return super().dequeue_sync(*args, **kwargs)


def test_workers_survive_a_backend_that_fails_mid_run_and_lose_nothing(caplog, events):
    caplog.set_level(logging.WARNING, "symphra_django")
    backend = FlakyOnClaim(failures=3)
    for i in range(10):
        backend.enqueue_sync(sample.remember.message([i], {}, sample.remember.using().options))
    Scheduler(backend, beat=False, workers=1, poll_interval=0.01).run_burst()
    assert sorted(e[1] for e in events) == list(range(10))
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot claim" in m for m in messages) == 1
    assert any("works again" in m for m in messages)


@pytest.mark.django_db(transaction=True)
def test_a_task_leaves_no_database_connection_open_in_its_worker_thread():
    from django.db import connection

    registry = TaskRegistry()

    def query():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return connection.connection is not None

    declared = declare(query, name="t.query", target=registry)
    seen = {}

    def worker():
        seen["open during the task"] = Runner().run(declared, [], {})
        seen["open after the task"] = connection.connection is not None

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == {"open during the task": True, "open after the task": False}


@pytest.mark.django_db(transaction=True)
def test_the_queue_connection_stays_open_between_tasks_unless_a_task_breaks_it():
    from django.db import connection, transaction

    registry = TaskRegistry()

    def query():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    def leave_autocommit_off():
        transaction.set_autocommit(False)

    fine = declare(query, name="t.fine", target=registry)
    breaking = declare(leave_autocommit_off, name="t.breaking", target=registry)
    seen = {}

    def worker():
        runner = Runner(keep=frozenset({"default"}))
        runner.run(fine, [], {})
        seen["kept after a task"] = connection.connection is not None
        runner.run(breaking, [], {})
        seen["kept after a task that broke it"] = connection.connection is not None

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == {"kept after a task": True, "kept after a task that broke it": False}


def test_periodic_outcomes_are_recorded_in_the_ledger(events):
    from symphra_django.runtime.ticks import MemoryLedger
    import time

    from symphra_django.tasks.schedules import OnceSchedule

    registry = TaskRegistry()
    ledger = MemoryLedger()

    def tick():
        raise RuntimeError("tick failed")

    declare(tick, name="t.tick", schedule=OnceSchedule(time.time() - 1), retry_policy="no_retry", target=registry)
    scheduler = Scheduler(MemoryBackend(), registry=registry, ledger=ledger, poll_interval=0.01)
    scheduler.run_burst()
    assert ledger.outcomes["t.tick"]["ok"] is False
    assert ledger.outcomes["t.tick"]["error"] == "RuntimeError: tick failed"


# -- --burst: the work is done ----------------------------------------------------------


def burst_scheduler(backend: MemoryBackend, **options) -> Scheduler:
    return Scheduler(backend, beat=False, workers=1, poll_interval=0.01, **options)


def test_burst_waits_for_a_task_leased_by_a_worker_that_died_and_runs_it(events):
    backend = MemoryBackend(alias="default")
    backend.enqueue_sync(sample.remember.message(["orphan"], {}, sample.remember.using().options))
    # A worker of another process claimed it, then died: its lease runs out.
    [_orphaned] = backend.dequeue_sync(1, lease_seconds=0.3)
    backend.enqueue_sync(sample.remember.message(["ready"], {}, sample.remember.using().options))

    assert burst_scheduler(backend).run_burst() is True

    assert sorted(e[1] for e in events) == ["orphan", "ready"]
    assert backend.get_queue_size_sync() == 0


def test_burst_leaves_a_task_whose_lease_is_kept_to_its_worker_and_says_so(events, caplog):
    caplog.set_level(logging.WARNING, "symphra_django")
    backend = MemoryBackend(alias="default")
    backend.enqueue_sync(sample.remember.message(["long"], {}, sample.remember.using().options))
    # A live worker elsewhere holds it (its lease outlasts the wait).
    [held] = backend.dequeue_sync(1, lease_seconds=600)

    assert burst_scheduler(backend).run_burst(held_wait=0.2) is False

    assert events == []
    assert backend.get_status_sync(held.id) == "in_flight"
    [warning] = [r.getMessage() for r in caplog.records if "burst" in r.getMessage()]
    assert "1 task(s) still in flight" in warning


def test_burst_does_not_wait_for_delayed_tasks(events):
    import time as clock

    backend = MemoryBackend(alias="default")
    later = sample.remember.message(["later"], {}, sample.remember.using().options)
    backend.enqueue_sync(later, clock.time() + 3600)

    assert burst_scheduler(backend).run_burst() is True

    assert events == []
    assert backend.get_stats_sync().delayed == 1


def test_burst_files_an_unreadable_entry_and_runs_the_tasks_around_it(events):
    backend = MemoryBackend(alias="default")
    options = sample.remember.using().options
    backend.enqueue_sync(sample.remember.message([1], {}, options))
    broken = sample.remember.message([2], {}, options)
    backend.enqueue_sync(broken)
    backend.enqueue_sync(sample.remember.message([3], {}, options))
    # Changed in place after it was stored, as only this process can: its
    # delivery refuses it like an unreadable payload.
    backend._queues["default"].pending[broken.id][1].priority = 10**7

    assert burst_scheduler(backend).run_burst() is True

    assert sorted(e[1] for e in events) == [1, 3]
    [failed] = backend.list_failed_sync()
    assert failed.id == broken.id and "'priority'" in failed.error


class FakeClock:
    """Stands in for the scheduler module's ``time``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


class SlowToStop:
    """A part whose stop uses ``takes`` seconds of the fake clock."""

    def __init__(self, clock: FakeClock, takes: float) -> None:
        self.clock, self.takes, self.given = clock, takes, None

    def stop(self, timeout=None):
        self.given = timeout
        self.clock.now += self.takes
        return True


def test_stopping_shares_one_shutdown_timeout_between_the_beat_and_the_workers(monkeypatch):
    # A supervisor's grace period (systemd, Kubernetes) is one number: a
    # beat slow to stop must not give the workers a second timeout.
    from symphra_django.runtime import scheduler as module

    clock = FakeClock()
    monkeypatch.setattr(module, "time", clock)
    scheduler = Scheduler(MemoryBackend(), shutdown_timeout=30)
    scheduler.beat, scheduler.pool = SlowToStop(clock, 25), SlowToStop(clock, 2)
    assert scheduler.stop() is True
    assert scheduler.beat.given == 30
    assert scheduler.pool.given == 5


def test_a_beat_that_outlives_the_timeout_leaves_the_workers_no_more_time(monkeypatch):
    from symphra_django.runtime import scheduler as module

    clock = FakeClock()
    monkeypatch.setattr(module, "time", clock)
    scheduler = Scheduler(MemoryBackend(), shutdown_timeout=10)
    scheduler.beat, scheduler.pool = SlowToStop(clock, 12), SlowToStop(clock, 0)
    scheduler.stop()
    assert scheduler.pool.given == 0
