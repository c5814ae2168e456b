"""Beat and the schedules kept in the database: picked up within one tick,
claimed once per tick in the same ledger as code schedules.

The beat is driven with explicit times (``run_pending(now)``). A schedule
ticks only after its timing was saved, so each test reads that moment back
(``floor``) and runs the beat at ticks computed from it.
"""

from __future__ import annotations

import logging
import time

import pytest

from symphra_django.backends import MemoryBackend
from symphra_django.models import PeriodicSchedule
from symphra_django.runtime.beat import Beat, tick_id
from symphra_django.runtime.stored import DatabaseSchedules
from symphra_django.runtime.ticks import DatabaseLedger, MemoryLedger
from symphra_django.tasks.base import declare
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.tasks.schedules import IntervalSchedule

pytestmark = pytest.mark.django_db

REMEMBER = "tests.sampleapp.tasks.remember"


@pytest.fixture
def backend():
    # Ticks of schedules saved just now lie a little ahead of the real clock:
    # this backend's clock runs an hour ahead so that workers may take them.
    return MemoryBackend(clock=lambda: time.time() + 3600)


@pytest.fixture
def registry():
    """Only the tasks a test declares, plus ``remember`` (its own code has no schedule)."""
    from tests.sampleapp import tasks as sample

    made = TaskRegistry()
    made.register(sample.remember)
    return made


def beat_for(registry, backend, ledger=None, grace=60.0):
    return Beat(registry, lambda task: backend, ledger or DatabaseLedger(), grace=grace, stored=DatabaseSchedules())


def add(name="s", **fields) -> PeriodicSchedule:
    fields.setdefault("interval", 10)
    fields.setdefault("args", [name])
    # Nothing here runs the ticks: earlier runs must not make later ticks skip.
    fields.setdefault("max_instances", 100)
    return PeriodicSchedule.objects.add(name, REMEMBER, **fields)


def ticks(schedule: PeriodicSchedule, count: int = 3) -> list[float]:
    """The schedule's first ticks after its timing was saved."""
    stored = PeriodicSchedule.objects.get(pk=schedule.pk)
    floor = stored.timing_changed_at.timestamp()
    return [run.timestamp() for run in stored.next_runs(count, now=floor)]


def queued(backend, queue="default"):
    return [(t.id, t.args) for t in backend.peek_sync(queue, 100)]


def test_a_due_tick_is_enqueued_once_with_the_schedules_arguments_and_delivery(registry, backend):
    schedule = add(kwargs={}, args=["hello"], queue="emails", priority=7)
    first, _, _ = ticks(schedule)
    beat = beat_for(registry, backend)
    beat.run_pending(first + 0.5)
    beat.run_pending(first + 0.6)
    [message] = backend.peek_sync("emails")
    assert message.id == tick_id(schedule.ledger_key, first) == f"tick:db-schedule:{schedule.pk}:{first:.3f}"
    assert (message.name, message.args, message.priority) == (REMEMBER, ["hello"], 7)
    assert message.meta == {"schedule": schedule.ledger_key, "tick": first}


def test_ticks_due_before_a_schedule_was_saved_never_run(registry, backend):
    schedule = add(interval=10)
    floor = PeriodicSchedule.objects.get(pk=schedule.pk).timing_changed_at.timestamp()
    before = IntervalSchedule(10).latest_at_or_before(floor)
    assert before is not None and before < floor
    beat_for(registry, backend).run_pending(floor + 0.001)  # the tick before the save is within the grace
    assert queued(backend) == []


def test_a_schedule_added_while_the_beat_runs_is_picked_up_at_its_next_loop(registry, backend):
    beat = beat_for(registry, backend)
    beat.run_pending()
    schedule = add()
    first, second, _ = ticks(schedule)
    beat.run_pending(first + 0.5)
    assert queued(backend) == [(tick_id(schedule.ledger_key, first), ["s"])]
    beat.run_pending(second + 0.5)
    assert len(queued(backend)) == 2


def test_an_edit_applies_from_the_next_loop_and_no_tick_runs_twice(registry, backend):
    schedule = add(interval=10)
    first, _, _ = ticks(schedule)
    beat = beat_for(registry, backend)
    beat.run_pending(first + 0.5)
    schedule.refresh_from_db()
    schedule.interval, schedule.args = 15, ["edited"]
    schedule.full_clean()
    schedule.save()
    # The new timing's ticks after the edit. This test's clock runs ahead of
    # the real one, so some may not be later than the tick that ran: the
    # ledger lets none of those run (again).
    after = ticks(schedule, 4)
    for t in after:
        beat.run_pending(t + 0.5)
        beat.run_pending(t + 0.6)
    ids = [message_id for message_id, _ in queued(backend)]
    assert ids == [tick_id(schedule.ledger_key, t) for t in [first] + [t for t in after if t > first]]
    assert [args for _, args in queued(backend)][1:] == [["edited"]] * (len(ids) - 1)
    assert all(t % 15 == 0 for t in after), "the new interval's own ticks, anchored like code intervals"


def test_an_edit_that_keeps_the_timing_keeps_the_ledger_row_so_the_tick_that_ran_does_not_run_again(
    registry, backend
):
    schedule = add(interval=10)
    first, _, _ = ticks(schedule)
    beat = beat_for(registry, backend)
    beat.run_pending(first + 0.5)
    [ran] = backend.dequeue_sync()
    backend.acknowledge_sync(ran)
    PeriodicSchedule.objects.filter(pk=schedule.pk).update(name="renamed", args=["x"])
    beat_for(registry, backend).run_pending(first + 0.7)  # a second scheduler, same tick
    assert queued(backend) == []


def test_disabling_stops_the_ticks_at_the_next_loop_and_enabling_resumes_them(registry, backend):
    schedule = add()
    first, second, third = ticks(schedule)
    beat = beat_for(registry, backend)
    beat.run_pending(first + 0.5)
    PeriodicSchedule.objects.set_enabled("s", False)
    beat.run_pending(second + 0.5)
    assert len(queued(backend)) == 1
    PeriodicSchedule.objects.set_enabled("s", True)
    beat.run_pending(third + 0.5)
    assert [i for i, _ in queued(backend)] == [tick_id(schedule.ledger_key, t) for t in (first, third)]


def test_deleting_stops_the_ticks_at_the_next_loop(registry, backend):
    schedule = add()
    first, second, _ = ticks(schedule)
    beat = beat_for(registry, backend)
    beat.run_pending(first + 0.5)
    schedule.delete()
    beat.run_pending(second + 0.5)
    assert len(queued(backend)) == 1


def test_three_beats_enqueue_each_tick_once(registry, backend):
    schedule = add(max_instances=100)
    ticks_ = ticks(schedule, 10)
    beats = [beat_for(registry, backend) for _ in range(3)]
    for tick in ticks_:
        for offset, beat in enumerate(beats):
            beat.run_pending(tick + 0.1 * offset)
    assert sorted(i for i, _ in queued(backend)) == sorted(tick_id(schedule.ledger_key, t) for t in ticks_)
    assert sum(beat.enqueued for beat in beats) == 10


def test_a_code_schedule_and_a_database_schedule_of_the_same_task_tick_apart(registry, backend):
    code = declare(lambda value=None: None, name="t.same", schedule=IntervalSchedule(10), target=registry)
    schedule = PeriodicSchedule.objects.add("s", REMEMBER, interval=10, args=[1])
    first, _, _ = ticks(schedule)
    beat_for(registry, backend).run_pending(first + 0.5)
    ids = {message_id for message_id, _ in queued(backend)}
    assert ids == {tick_id(code.name, first), tick_id(schedule.ledger_key, first)}


def test_a_schedules_own_misfire_grace_decides_whether_a_late_tick_runs(registry, backend):
    strict = add("strict", misfire_grace=1)
    lenient = add("lenient", misfire_grace=30)
    first, _, _ = ticks(strict)
    assert ticks(lenient)[0] == first
    beat_for(registry, backend, grace=60).run_pending(first + 5)
    assert queued(backend) == [(tick_id(lenient.ledger_key, first), ["lenient"])]


def test_a_row_that_is_not_a_valid_schedule_is_skipped_with_one_warning_and_the_others_run(
    registry, backend, caplog
):
    good = add("good")
    bad_task = add("bad-task")
    bad_cron = add("bad-cron")
    PeriodicSchedule.objects.filter(pk=bad_task.pk).update(task="os.system")
    PeriodicSchedule.objects.filter(pk=bad_cron.pk).update(cron="0 0 31 2 *", interval=None)
    first, second, _ = ticks(good)
    beat = beat_for(registry, backend)
    with caplog.at_level(logging.WARNING, logger="symphra_django.beat"):
        beat.run_pending(first + 0.5)
        beat.run_pending(second + 0.5)
    assert [args for _, args in queued(backend)] == [["good"], ["good"]]
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [  # once each, by name order
        f"database schedule 'bad-cron' (id {bad_cron.pk}) is skipped: cron expression '0 0 31 2 *' never fires "
        "(failed to find next date); check the day and month fields",
        f"database schedule 'bad-task' (id {bad_task.pk}) is skipped: its task 'os.system' is not declared in "
        "this process",
    ]


def test_if_the_table_cannot_be_read_the_schedules_read_last_keep_running(registry, backend, monkeypatch, caplog):
    schedule = add()
    first, second, _ = ticks(schedule)
    beat = beat_for(registry, backend, ledger=MemoryLedger())
    beat.run_pending(first + 0.5)

    def unreachable(*args, **kwargs):
        raise ConnectionError("database went away")

    monkeypatch.setattr(PeriodicSchedule.objects, "filter", unreachable)
    with caplog.at_level(logging.WARNING, logger="symphra_django.beat"):
        beat.run_pending(second + 0.5)
    assert len(queued(backend)) == 2
    assert "cannot read the database schedules; the 1 read last keep running" in caplog.text


@pytest.mark.django_db(transaction=True)  # the worker threads' connections see the rows
def test_a_burst_runs_a_due_database_schedule_and_records_its_outcome_as_its_last_run(memory, events):
    from datetime import timedelta

    from django.utils import timezone

    from symphra_django import Scheduler
    from symphra_django.models import ScheduleState

    schedule = add(interval=5, args=["from the database"])
    # Saved a minute ago: its latest tick is due (and within the grace time).
    PeriodicSchedule.objects.filter(pk=schedule.pk).update(timing_changed_at=timezone.now() - timedelta(minutes=1))
    Scheduler(memory, ledger=DatabaseLedger(), workers=1, poll_interval=0.01).run_burst()
    assert events == [("remember", "from the database")]
    state = ScheduleState.objects.get(name=schedule.ledger_key)
    assert (state.last_status, state.last_error) == ("succeeded", "")


def test_a_scheduler_runs_database_schedules_by_default_only_with_a_ledger_in_the_database(memory):
    from symphra_django import Scheduler

    assert Scheduler(memory, ledger=DatabaseLedger()).stored_schedules is True
    assert Scheduler(memory).stored_schedules is False
    assert Scheduler(memory, stored_schedules=True).stored_schedules is True
