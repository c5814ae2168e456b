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


# -- planning ahead: reads before the due instant, claim and enqueue at it -------------------


class Clock:
    """The beat's clock and sleep: sleeping moves the time on, by ``pace``
    of what was asked (below 1: a sleep that returns early)."""

    def __init__(self, now: float, pace: float = 1.0, during_sleep=None) -> None:
        self.now = now
        self.pace = pace
        self.during_sleep = during_sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        if self.during_sleep is not None:
            self.during_sleep()
        self.now += max(seconds * self.pace, 1e-4)
        return False


class Timed:
    """Records when (on the clock) the ledger is read and claimed and the backend enqueues."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.events: list[tuple[str, float]] = []

    def ledger(self, ledger=None):
        timed = self
        base = type(ledger) if ledger is not None else MemoryLedger

        class TimedLedger(base):
            def last_ticks(self, names):
                timed.events.append(("read", timed.clock.now))
                return super().last_ticks(names)

            def claim(self, name, tick, **kwargs):
                won = super().claim(name, tick, **kwargs)
                timed.events.append(("claim" if won else "lost", timed.clock.now))
                return won

        made = TimedLedger()
        if ledger is not None:
            made.__dict__.update(ledger.__dict__)
        return made

    def backend(self):
        timed = self

        class TimedBackend(MemoryBackend):
            def enqueue_sync(self, task, scheduled_time=None, priority=None):
                timed.events.append(("enqueue", timed.clock.now))
                return super().enqueue_sync(task, scheduled_time, priority)

        return TimedBackend()


def every_second(registry, **options):
    def job(): ...

    # Nothing here runs the ticks: earlier runs must not make later ticks skip.
    options.setdefault("max_instances", 100)
    return declare(job, name="t.second", schedule=CronSchedule("* * * * * *", "UTC"), target=registry, **options)


def planning_beat(registry, backend, ledger, clock, lead=0.1):
    return Beat(registry, lambda task: backend, ledger, lead=lead, clock=clock, sleep=clock.sleep)


def test_the_beat_reads_before_a_tick_is_due_and_only_claims_and_enqueues_at_its_due_instant(registry):
    every_second(registry)
    clock = Clock(T0 + 0.5)
    timed = Timed(clock)
    backend = timed.backend()
    beat = planning_beat(registry, backend, timed.ledger(), clock)
    assert beat.step() == pytest.approx(0.4)  # T0 was due: enqueued at once; wake 0.1 s before T0 + 1
    timed.events.clear()
    clock.now += 0.4
    assert beat.step() == pytest.approx(0.9)  # the next wake-up: 0.1 s before T0 + 2
    assert timed.events == [("read", pytest.approx(T0 + 0.9, abs=1e-6)), ("claim", T0 + 1), ("enqueue", T0 + 1)]
    assert ids(backend) == [tick_id("t.second", T0), tick_id("t.second", T0 + 1)]


def test_a_tick_read_ahead_is_never_enqueued_before_it_is_due_even_if_sleep_returns_early(registry):
    every_second(registry)
    clock = Clock(T0 + 0.9, pace=0.5)
    timed = Timed(clock)
    beat = planning_beat(registry, timed.backend(), timed.ledger(MemoryLedger()), clock)
    beat.ledger.claim("t.second", T0)
    beat.step()
    [(_, enqueued_at)] = [event for event in timed.events if event[0] == "enqueue"]
    assert T0 + 1 <= enqueued_at < T0 + 1.001


def test_three_beats_reading_the_same_tick_ahead_enqueue_it_once(registry):
    every_second(registry)
    clock = Clock(T0 + 0.95)
    timed = Timed(clock)
    backend = timed.backend()
    ledger = MemoryLedger()
    ledger.claim("t.second", T0)
    beats = [planning_beat(registry, backend, ledger, clock) for _ in range(3)]
    for beat in beats:
        clock.now = T0 + 0.95  # all three read before the tick, then race for it
        beat.step()
    assert ids(backend) == [tick_id("t.second", T0 + 1)]
    assert sum(beat.enqueued for beat in beats) == 1


def test_a_run_that_ends_while_the_beat_waits_for_the_next_tick_does_not_make_it_skip(registry):
    every_10s(registry, max_instances=1)
    backend = MemoryBackend()
    running = []
    clock = Clock(T0 + 0.5, during_sleep=lambda: [backend.acknowledge_sync(m) for m in running])
    beat = planning_beat(registry, backend, MemoryLedger(), clock)
    beat.step()
    running.extend(backend.dequeue_sync())  # T0's run: still going when T0 + 10 is read ahead
    clock.now = T0 + 9.95
    beat.step()  # the run ends while the beat sleeps until T0 + 10
    assert ids(backend) == [tick_id("t.every10", T0 + 10)]


def test_ticks_closer_together_than_the_lead_all_run(registry):
    def job(): ...

    declare(job, name="t.fast", schedule=IntervalSchedule(0.05), target=registry, max_instances=100)
    clock = Clock(T0 + 0.001)
    backend = MemoryBackend()
    beat = planning_beat(registry, backend, MemoryLedger(), clock, lead=0.1)
    while clock.now < T0 + 0.5:
        clock.sleep(beat.step())
    expected = [tick_id("t.fast", T0 + 0.05 * n) for n in range(11)]
    assert sorted(ids(backend))[: len(expected)] == sorted(expected)


def test_a_beat_stopped_while_it_waits_for_a_tick_does_not_enqueue_it(registry):
    every_second(registry)
    backend = MemoryBackend()
    ledger = MemoryLedger()
    ledger.claim("t.second", T0)
    clock = Clock(T0 + 0.95)
    beat = Beat(registry, lambda task: backend, ledger, clock=clock, sleep=lambda seconds: True)
    beat.step()
    assert ids(backend) == []
    assert ledger.last_tick("t.second") == T0
