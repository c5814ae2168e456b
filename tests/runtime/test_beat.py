"""Beat: due ticks enqueued once, coalesced after downtime, paused, bounded."""

from __future__ import annotations

import pytest

from symphra_django.backends import MemoryBackend
from symphra_django.runtime.beat import Beat, tick_id
from symphra_django.runtime.ticks import DatabaseLedger, MemoryLedger
from symphra_django.models import ScheduleState
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.tasks.schedules import CronSchedule, IntervalSchedule
from symphra_django.tasks.base import declare

T0 = 1_700_000_000.0  # in the past, a round number of seconds


@pytest.fixture
def registry():
    return TaskRegistry()


@pytest.fixture
def backend():
    return MemoryBackend()


def every_10s(registry, **options):
    def job(): ...

    return declare(job, name="t.every10", schedule=IntervalSchedule(10), target=registry, **options)


def beat_for(registry, backend, ledger=None, grace=60.0):
    return Beat(registry, lambda task: backend, ledger or MemoryLedger(), grace=grace)


def ids(backend, queue="default"):
    return [t.id for t in backend.peek_sync(queue, 100)]


def test_a_due_tick_is_enqueued_once_with_a_deterministic_id(registry, backend):
    every_10s(registry)
    beat = beat_for(registry, backend)
    beat.run_pending(T0 + 1)
    beat.run_pending(T0 + 2)
    assert ids(backend) == [tick_id("t.every10", T0)]


def test_next_ticks_follow(registry, backend):
    every_10s(registry, max_instances=5)
    beat = beat_for(registry, backend)
    for t in (T0, T0 + 5, T0 + 10, T0 + 20):
        beat.run_pending(t)
    assert len(ids(backend)) == 3


def test_missed_ticks_coalesce_into_one_run(registry, backend):
    every_10s(registry, max_instances=5)
    ledger = MemoryLedger()
    beat = beat_for(registry, backend, ledger)
    beat.run_pending(T0)
    backend.clear_sync()
    beat.run_pending(T0 + 55)  # five ticks were missed
    assert ids(backend) == [tick_id("t.every10", T0 + 50)]


def test_a_tick_older_than_the_grace_time_is_not_run(registry, backend):
    def daily_job(): ...

    declare(daily_job, name="t.daily", schedule=CronSchedule("0 3 * * *", "UTC"), target=registry)
    beat = beat_for(registry, backend, grace=60)
    three = CronSchedule("0 3 * * *", "UTC").next_after(T0)
    beat.run_pending(three + 61)
    assert ids(backend) == []
    beat.run_pending(three + 86400 + 1)
    assert ids(backend) == [tick_id("t.daily", three + 86400)]


def test_a_second_scheduler_cannot_enqueue_a_tick_that_already_ran(registry, backend):
    every_10s(registry)
    ledger = MemoryLedger()
    fast, slow = beat_for(registry, backend, ledger), beat_for(registry, backend, ledger)
    fast.run_pending(T0 + 1)
    [message] = backend.dequeue_sync()
    backend.acknowledge_sync(message)
    slow.run_pending(T0 + 2)
    assert ids(backend) == []


def test_max_instances_skips_a_tick_while_the_previous_run_is_pending(registry, backend):
    every_10s(registry, max_instances=1)
    beat = beat_for(registry, backend)
    beat.run_pending(T0)
    [running] = backend.dequeue_sync()
    beat.run_pending(T0 + 10)
    assert ids(backend) == []
    backend.acknowledge_sync(running)
    beat.run_pending(T0 + 20)
    assert ids(backend) == [tick_id("t.every10", T0 + 20)]


def test_disabled_and_paused_tasks_do_not_run(registry, backend):
    every_10s(registry)
    ledger = MemoryLedger()
    ledger.disabled.add("t.every10")
    beat_for(registry, backend, ledger).run_pending(T0)
    assert ids(backend) == []


def test_ticks_outside_the_window_do_not_run(registry, backend):
    from datetime import datetime, timezone

    every_10s(registry, end_time=datetime.fromtimestamp(T0 - 1, tz=timezone.utc))
    beat_for(registry, backend).run_pending(T0 + 1)
    assert ids(backend) == []


@pytest.mark.django_db
def test_the_database_ledger_lets_one_claim_win_and_records_outcomes():
    ledger = DatabaseLedger()
    ledger.ensure(["t.job"])
    assert ledger.claim("t.job", T0) is True
    assert ledger.claim("t.job", T0) is False
    assert ledger.claim("t.job", T0 - 10) is False
    assert ledger.claim("t.job", T0 + 10) is True
    ledger.record_outcome("t.job", ok=False, error="boom", duration=0.5, at=T0 + 11)
    state = ScheduleState.objects.get(name="t.job")
    assert state.last_tick.timestamp() == T0 + 10
    assert (state.last_status, state.last_error) == ("failed", "boom")


@pytest.mark.django_db
def test_a_schedule_paused_in_the_database_is_skipped(registry, backend):
    every_10s(registry)
    ledger = DatabaseLedger()
    ledger.ensure(["t.every10"])
    ScheduleState.objects.filter(name="t.every10").update(enabled=False)
    beat_for(registry, backend, ledger).run_pending(T0)
    assert ids(backend) == []
    ScheduleState.objects.filter(name="t.every10").update(enabled=True)
    beat_for(registry, backend, ledger).run_pending(T0 + 1)
    assert len(ids(backend)) == 1


def test_a_failed_enqueue_gives_the_tick_back(registry):
    class Down(MemoryBackend):
        def enqueue_sync(self, *args, **kwargs):
            raise ConnectionError("down")

    every_10s(registry)
    ledger = MemoryLedger()
    with pytest.raises(ConnectionError):
        beat_for(registry, Down(), ledger).run_pending(T0)
    assert ledger.last_tick("t.every10") is None
