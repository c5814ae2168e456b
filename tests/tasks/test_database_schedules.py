"""Schedules kept in the database: the code API, validation, the next runs.

``PeriodicSchedule.objects.add`` validates like the admin's form (one
``clean``); these tests pin what it refuses and with which message, what a
schedule's next runs are, and when its ticks start after a save.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from symphra_django.exceptions import TaskDeclarationError
from symphra_django.models import PeriodicSchedule, ScheduleState
from symphra_django.models.periodic import LEDGER_PREFIX
from symphra_django.tasks.base import declare
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.tasks.schedules import CronSchedule, IntervalSchedule, Window, upcoming
from tests.sampleapp import tasks as sample

pytestmark = pytest.mark.django_db

REMEMBER = "tests.sampleapp.tasks.remember"
T0 = datetime(2030, 1, 1, tzinfo=UTC).timestamp()  # a Tuesday, midnight UTC


def errors_of(**fields) -> dict[str, list[str]]:
    fields.setdefault("task", REMEMBER)
    fields.setdefault("args", [1])
    with pytest.raises(ValidationError) as caught:
        PeriodicSchedule.objects.add(fields.pop("name", "s"), **fields)
    assert not PeriodicSchedule.objects.exists(), "nothing is saved when validation fails"
    return caught.value.message_dict


# -- the code API ------------------------------------------------------------------


def test_add_saves_a_validated_schedule_and_accepts_a_task_object():
    schedule = PeriodicSchedule.objects.add("nightly", sample.remember, cron="0 3 * * *", args=["x"],
                                            timezone="Europe/Paris", queue="emails", priority=5)
    stored = PeriodicSchedule.objects.get(name="nightly")
    assert (stored.task, stored.cron, stored.args, stored.timezone) == (REMEMBER, "0 3 * * *", ["x"], "Europe/Paris")
    assert (stored.queue, stored.priority, stored.enabled) == ("emails", 5, True)
    assert stored.ledger_key == f"{LEDGER_PREFIX}{schedule.pk}"


def test_add_takes_an_interval_as_seconds_or_a_timedelta():
    assert PeriodicSchedule.objects.add("a", REMEMBER, interval=90, args=[1]).interval == 90
    assert PeriodicSchedule.objects.add("b", REMEMBER, interval=timedelta(minutes=5), args=[1]).interval == 300


def test_add_refuses_an_interval_that_is_not_whole_seconds():
    with pytest.raises(ValidationError, match="whole number of seconds"):
        PeriodicSchedule.objects.add("a", REMEMBER, interval=timedelta(seconds=1.5), args=[1])


def test_add_of_an_existing_name_is_refused_unless_replace():
    PeriodicSchedule.objects.add("s", REMEMBER, interval=60, args=[1])
    with pytest.raises(ValidationError, match="already exists"):
        PeriodicSchedule.objects.add("s", REMEMBER, interval=30, args=[2])
    PeriodicSchedule.objects.add("s", REMEMBER, interval=30, args=[2], replace=True)
    assert PeriodicSchedule.objects.values_list("interval", "args").get() == (30, [2])


def test_remove_and_set_enabled():
    PeriodicSchedule.objects.add("s", REMEMBER, interval=60, args=[1])
    assert PeriodicSchedule.objects.set_enabled("s", False).enabled is False
    assert PeriodicSchedule.objects.get(name="s").enabled is False
    assert PeriodicSchedule.objects.remove("s") is True
    assert PeriodicSchedule.objects.remove("s") is False
    with pytest.raises(PeriodicSchedule.DoesNotExist):
        PeriodicSchedule.objects.set_enabled("s", True)


def test_deleting_a_schedule_deletes_its_ledger_row():
    schedule = PeriodicSchedule.objects.add("s", REMEMBER, interval=60, args=[1])
    ScheduleState.objects.create(name=schedule.ledger_key, last_status="succeeded")
    ScheduleState.objects.create(name=REMEMBER)
    schedule.delete()
    assert list(ScheduleState.objects.values_list("name", flat=True)) == [REMEMBER]


def test_no_task_may_be_named_like_a_database_schedule():
    with pytest.raises(TaskDeclarationError, match="names database schedules"):
        declare(lambda: None, name=f"{LEDGER_PREFIX}1", target=TaskRegistry())


# -- what validation refuses, and says ------------------------------------------------


def test_an_unknown_task_is_refused_by_name():
    errors = errors_of(task="os.system", args=["rm -rf /"], cron="* * * * *")
    assert errors["task"] == [
        "unknown task 'os.system': no task of that name is declared in this project (declare it with "
        "@task in an app's tasks.py, then pick it by its name)"
    ]


def test_an_invalid_cron_expression_is_refused_with_the_reason():
    assert "invalid cron expression '61 * * * *'" in errors_of(cron="61 * * * *")["cron"][0]
    assert "it has 3 field(s); use 5" in errors_of(cron="* * *")["cron"][0]


def test_a_cron_expression_that_never_fires_is_refused():
    [message] = errors_of(cron="0 0 31 2 *")["cron"]
    assert message.startswith("cron expression '0 0 31 2 *' never fires")


def test_a_cron_or_an_interval_is_needed_and_not_both():
    assert errors_of()["cron"] == ["give a cron expression or an interval in seconds"]
    assert errors_of(cron="* * * * *", interval=60)["interval"] == [
        "give either a cron expression or an interval, not both"]


def test_an_interval_below_one_second_is_refused():
    assert "greater than or equal to 1" in errors_of(interval=0)["interval"][0]


def test_an_unknown_time_zone_is_refused():
    [message] = errors_of(cron="0 3 * * *", timezone="Mars/Olympus")["timezone"]
    assert message == "unknown time zone 'Mars/Olympus': use an IANA name such as 'UTC' or 'Europe/Paris'"


def test_a_time_zone_with_an_interval_is_refused():
    assert errors_of(interval=60, timezone="UTC")["timezone"] == [
        "a time zone applies to cron expressions only; leave it empty for an interval"]


def test_the_start_must_precede_the_end():
    start = datetime(2031, 1, 1, tzinfo=UTC)
    errors = errors_of(interval=60, start_time=start, end_time=start - timedelta(days=1))
    assert errors["end_time"] == ["the end time must be after the start time"]


def test_a_schedule_that_ended_is_refused_while_enabled():
    ended = datetime(2001, 1, 1, tzinfo=UTC)
    [message] = errors_of(interval=60, end_time=ended)["end_time"]
    assert message.startswith("this schedule would never run again")
    assert PeriodicSchedule.objects.add("s", REMEMBER, args=[1], interval=60, end_time=ended, enabled=False)


def test_arguments_must_be_a_json_list_and_object():
    assert "must be a JSON list" in errors_of(interval=60, args={"a": 1})["args"][0]
    assert "must be a JSON object" in errors_of(interval=60, kwargs=[1])["kwargs"][0]


def test_arguments_must_be_json_as_enqueue_requires():
    [message] = errors_of(interval=60, args=[float("nan")])["args"]
    assert message.startswith("positional argument 0 of task 'tests.sampleapp.tasks.remember' is not "
                              "JSON-serialisable")


def test_arguments_must_fit_the_tasks_signature():
    [message] = errors_of(interval=60, args=[])["args"]
    assert message == ("these arguments do not fit tests.sampleapp.tasks.remember(value) -> None: "
                       "missing a required argument: 'value'")
    assert "unexpected keyword argument 'nope'" in errors_of(interval=60, kwargs={"nope": 1})["args"][0]


def test_an_unknown_queue_and_a_priority_out_of_range_are_refused():
    errors = errors_of(interval=60, queue="nowhere", priority=101)
    assert errors["queue"][0].startswith("unknown queue 'nowhere' for task")
    assert errors["priority"][0].startswith("priority 101 of task")


def test_max_instances_and_misfire_grace_are_at_least_one():
    errors = errors_of(interval=60, max_instances=0, misfire_grace=0)
    assert "greater than or equal to 1" in errors["max_instances"][0]
    assert "greater than or equal to 1" in errors["misfire_grace"][0]


# -- the next runs ------------------------------------------------------------------


def test_upcoming_lists_the_next_ticks_inside_the_window():
    assert upcoming(IntervalSchedule(10), T0 + 1, 3) == [T0 + 10, T0 + 20, T0 + 30]
    assert upcoming(IntervalSchedule(10), T0, 5, Window(T0 + 100, T0 + 120)) == [T0 + 100, T0 + 110, T0 + 120]
    assert upcoming(CronSchedule("0 3 31 2,3 *", "UTC"), T0, 2) == [
        datetime(2030, 3, 31, 3, tzinfo=UTC).timestamp(), datetime(2031, 3, 31, 3, tzinfo=UTC).timestamp()]


def test_next_runs_of_an_unsaved_schedule_follow_its_expression_and_zone():
    schedule = PeriodicSchedule(task=REMEMBER, cron="30 2 * * *", timezone="America/New_York")
    runs = schedule.next_runs(now=datetime(2026, 3, 6, 12, tzinfo=UTC).timestamp())
    # 02:30 does not exist on 2026-03-08: it runs once, when the clocks resume (03:00 EDT).
    assert [r.isoformat() for r in runs] == [
        "2026-03-07T07:30:00+00:00", "2026-03-08T07:00:00+00:00", "2026-03-09T06:30:00+00:00",
        "2026-03-10T06:30:00+00:00", "2026-03-11T06:30:00+00:00"]


def test_next_runs_stop_at_the_end_time_which_may_be_a_run():
    end = datetime.fromtimestamp(T0 + 3 * 3600, tz=UTC)
    schedule = PeriodicSchedule(task=REMEMBER, interval=3600, end_time=end)
    assert [r.timestamp() for r in schedule.next_runs(now=T0 + 1)] == [T0 + 3600, T0 + 7200, T0 + 10800]


def test_interval_runs_count_from_the_start_time():
    start = datetime.fromtimestamp(T0 + 7, tz=UTC)
    schedule = PeriodicSchedule(task=REMEMBER, interval=60, start_time=start)
    assert [r.timestamp() for r in schedule.next_runs(3, now=T0)] == [T0 + 7, T0 + 67, T0 + 127]


def test_a_saved_schedule_ticks_only_after_its_timing_last_changed():
    schedule = PeriodicSchedule.objects.add("s", REMEMBER, interval=60, args=[1])
    created = schedule.timing_changed_at
    assert schedule.window().start == created.timestamp()
    schedule.args = [2]
    schedule.save()
    assert PeriodicSchedule.objects.get().timing_changed_at == created, "arguments are not timing"
    PeriodicSchedule.objects.set_enabled("s", False)
    assert PeriodicSchedule.objects.get().timing_changed_at == created, "neither is the enabled flag"
    edited = PeriodicSchedule.objects.get()
    edited.interval = 30
    edited.save()
    assert PeriodicSchedule.objects.get().timing_changed_at > created


def test_a_preview_of_an_edited_timing_starts_from_now_not_from_the_last_save():
    schedule = PeriodicSchedule.objects.add("s", REMEMBER, interval=60, args=[1])
    PeriodicSchedule.objects.filter(pk=schedule.pk).update(timing_changed_at=datetime(2029, 1, 1, tzinfo=UTC))
    stored = PeriodicSchedule.objects.get()
    assert stored.window(now=T0).start == datetime(2029, 1, 1, tzinfo=UTC).timestamp()
    stored.interval = 30
    assert stored.window(now=T0).start == T0
