"""Schedules: cron (5 and 6 fields), intervals, once, DST, the decorators."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from symphra_django import cron, daily, every, hourly, interval, monthly, once, scheduled, weekly
from symphra_django.exceptions import TaskDeclarationError
from symphra_django.tasks.registry import registry
from symphra_django.tasks.schedules import CronSchedule, IntervalSchedule, OnceSchedule

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")


def ts(*args, tz=UTC) -> float:
    return datetime(*args, tzinfo=tz).timestamp()


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def test_six_field_cron_has_seconds_first():
    schedule = CronSchedule("*/5 * * * * *", "UTC")
    assert schedule.next_after(ts(2026, 1, 1, 0, 0, 3)) == ts(2026, 1, 1, 0, 0, 5)
    assert schedule.latest_at_or_before(ts(2026, 1, 1, 0, 0, 9)) == ts(2026, 1, 1, 0, 0, 5)


def test_five_field_cron_is_classic():
    schedule = CronSchedule("0 3 * * *", "UTC")
    assert schedule.next_after(ts(2026, 1, 1, 3, 0)) == ts(2026, 1, 2, 3, 0)
    assert schedule.latest_at_or_before(ts(2026, 1, 1, 3, 0)) == ts(2026, 1, 1, 3, 0)


def test_cron_is_read_in_the_configured_zone():
    with override_settings(TIME_ZONE="Europe/Paris"):
        schedule = CronSchedule("0 9 * * *")
        assert utc(schedule.next_after(ts(2026, 1, 10))) == datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


def test_a_cron_time_inside_the_spring_forward_gap_runs_once_after_it():
    schedule = CronSchedule("30 2 * * *", "Europe/Paris")
    runs = [schedule.next_after(ts(2026, 3, 28, 12, tz=PARIS))]
    runs.append(schedule.next_after(runs[0]))
    local = [utc(r).astimezone(PARIS) for r in runs]
    assert [(d.day, d.hour, d.minute) for d in local] == [(29, 3, 0), (30, 2, 30)]


def test_a_fixed_hour_cron_runs_once_in_the_repeated_autumn_hour():
    schedule = CronSchedule("30 2 * * *", "Europe/Paris")
    first = schedule.next_after(ts(2026, 10, 24, 12, tz=PARIS))
    second = schedule.next_after(first)
    assert utc(second) - utc(first) == timedelta(days=1, hours=1)
    assert schedule.latest_at_or_before(ts(2026, 10, 25, 2, 45, tz=PARIS) + 3600) == first


def test_an_every_30_minutes_cron_keeps_running_through_the_repeated_hour():
    schedule = CronSchedule("*/30 * * * *", "Europe/Paris")
    t, gaps = ts(2026, 10, 25, 0, 50, tz=UTC), []
    for _ in range(6):
        nxt = schedule.next_after(t)
        gaps.append(nxt - t)
        t = nxt
    assert all(gap <= 1800 for gap in gaps)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("61 * * * *", "invalid cron expression '61 \\* \\* \\* \\*'"),
        ("* * *", "has 3 field"),
        ("0 0 30 2 *", "never fires"),
        ("every day", "has 2 field"),
    ],
)
def test_invalid_cron_fails_at_declaration_with_expression_and_reason(expr, message):
    with pytest.raises(TaskDeclarationError, match=message):
        cron(expr)


def test_interval_ticks_are_anchored_so_every_scheduler_agrees():
    schedule = IntervalSchedule(30)
    assert schedule.next_after(ts(2026, 1, 1, 0, 0, 10)) == ts(2026, 1, 1, 0, 0, 30)
    assert schedule.latest_at_or_before(ts(2026, 1, 1, 0, 0, 59)) == ts(2026, 1, 1, 0, 0, 30)


def test_once_has_one_tick():
    schedule = OnceSchedule(1000.0)
    assert schedule.next_after(999) == 1000 and schedule.next_after(1000) is None
    assert schedule.latest_at_or_before(999) is None and schedule.latest_at_or_before(5000) == 1000


@pytest.mark.parametrize(
    ("decorator", "expression", "words"),
    [
        (hourly(minute=15), "15 * * * *", "Every hour at minute 15"),
        (daily(hour=3, minute=30), "30 3 * * *", "Every day at 03:30"),
        (weekly(day=0, hour=9), "0 9 * * 0", "Every Sunday at 09:00"),
        (monthly(day=15, hour=1), "0 1 15 * *", "Day 15 of every month at 01:00"),
        (cron("*/5 * * * * *"), "*/5 * * * * *", "Every 5 seconds"),
        (cron("* * * * * *"), "* * * * * *", "Every second"),
        (every(minutes=30), "every 30 minutes", "Every 30 minutes"),
        (interval(timedelta(hours=2)), "every 2 hours", "Every 2 hours"),
        (scheduled(cron="0 0 * * *"), "0 0 * * *", "Every day at 00:00"),
        (scheduled(interval=45), "every 45 seconds", "Every 45 seconds"),
    ],
)
def test_schedule_decorators_build_their_schedule(decorator, expression, words):
    def periodic(): ...

    periodic.__qualname__ = f"periodic_{abs(hash(expression))}"
    declared = decorator(periodic)
    try:
        assert declared.schedule.expression == expression
        assert declared.schedule.describe() == words
    finally:
        registry.unregister(declared.name)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: hourly(minute=60), "@hourly: minute=60 is out of range; use an integer from 0 to 59"),
        (lambda: daily(hour=24), "@daily: hour=24"),
        (lambda: weekly(day=7), "@weekly: day=7"),
        (lambda: monthly(day=0), "@monthly: day=0"),
        (lambda: every(), "positive"),
        (lambda: interval(0), "positive number"),
        (lambda: once(datetime(2030, 1, 1)), "aware datetime"),
        (lambda: scheduled(cron="* * * * *", interval=5), "exactly one"),
    ],
)
def test_out_of_range_schedule_values_are_refused(call, message):
    with pytest.raises(TaskDeclarationError, match=message):
        call()


def test_scheduled_takes_window_and_metadata():
    start = datetime(2030, 1, 1, tzinfo=UTC)

    def reporting(): ...

    declared = scheduled(cron="0 * * * *", name="t.reporting", start_time=start, max_instances=2,
                         enabled=False, tags=["reports"], metadata={"owner": "ops"})(reporting)
    try:
        assert declared.window.start == start.timestamp() and not declared.enabled
        assert declared.max_instances == 2 and declared.tags == ("reports",)
        assert declared.metadata == {"owner": "ops"}
    finally:
        registry.unregister("t.reporting")
