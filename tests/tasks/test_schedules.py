"""Schedules: cron (5 and 6 fields), intervals, once, DST, the decorators."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import pairwise
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


# --- DST -------------------------------------------------------------------
#
# Each case enumerates every run over the 48 hours around a clock change (noon
# the day before to noon the day after, local time) exactly as the beat walks
# them, from one run to the next, and compares them with the UTC instants
# docs/tasks.md promises. The 2026 changes used:
#
#   America/New_York     2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC)
#                        2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC)
#   Europe/Berlin        2026-03-29 02:00 CET -> 03:00 CEST (01:00 UTC)
#                        2026-10-25 03:00 CEST -> 02:00 CET (01:00 UTC)
#   Australia/Lord_Howe  2026-04-05 02:00 +11 -> 01:30 +10:30 (2026-04-04 15:00 UTC)
#                        2026-10-04 02:00 +10:30 -> 02:30 +11 (2026-10-03 15:30 UTC)

NEW_YORK, BERLIN, LORD_HOWE = "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"


def at(*instants: str) -> list[datetime]:
    return [datetime.fromisoformat(instant) for instant in instants]


def each(seconds: int, first: str, last: str) -> list[datetime]:
    """Every ``seconds`` of real time from ``first`` to ``last`` (UTC)."""
    start, stop = datetime.fromisoformat(first), datetime.fromisoformat(last)
    return [start + timedelta(seconds=n * seconds) for n in range(int((stop - start).total_seconds()) // seconds + 1)]


def around(zone: str, day: tuple[int, int, int]) -> tuple[datetime, datetime]:
    """Noon the day before ``day`` to noon the day after, local time."""
    noon = datetime(*day, 12, tzinfo=ZoneInfo(zone))
    return noon - timedelta(days=1), noon + timedelta(days=1)  # wall-clock arithmetic


def runs(schedule: CronSchedule, window: tuple[datetime, datetime]) -> list[datetime]:
    """The runs in ``window`` (both ends included) as the beat finds them: next_after from run to run."""
    found, t = [], window[0].timestamp() - 0.001
    while (t := schedule.next_after(t)) <= window[1].timestamp():
        found.append(utc(t))
    return found


def assert_both_questions_agree(schedule: CronSchedule, found: list[datetime]) -> None:
    """Asked from anywhere between two runs, next_after and latest_at_or_before name those two."""
    for before, after in pairwise(found):
        a, b = before.timestamp(), after.timestamp()
        for t in (a, a + 0.5, (a + b) / 2, b - 0.5):
            assert utc(schedule.next_after(t)) == after, utc(t)
            assert utc(schedule.latest_at_or_before(t)) == before, utc(t)
        assert utc(schedule.latest_at_or_before(b)) == after


FIXED_HOUR_AUTUMN = [
    pytest.param(
        "*/30 1 * * *", NEW_YORK, (2026, 11, 1),
        # 01:00, 01:30 EDT on the change day, not again at 01:00, 01:30 EST
        at("2026-11-01 05:00Z", "2026-11-01 05:30Z", "2026-11-02 06:00Z", "2026-11-02 06:30Z"),
        id="new-york-*/30-1h",
    ),
    pytest.param(
        "30 1 * * *", NEW_YORK, (2026, 11, 1),
        at("2026-11-01 05:30Z", "2026-11-02 06:30Z"),
        id="new-york-30-1h",
    ),
    pytest.param(
        "*/20 30 1 * * *", NEW_YORK, (2026, 11, 1),
        at("2026-11-01 05:30:00Z", "2026-11-01 05:30:20Z", "2026-11-01 05:30:40Z",
           "2026-11-02 06:30:00Z", "2026-11-02 06:30:20Z", "2026-11-02 06:30:40Z"),
        id="new-york-seconds-field",
    ),
    pytest.param(
        "*/30 2 * * *", BERLIN, (2026, 10, 25),
        # 02:00, 02:30 CEST on the change day, not again at 02:00, 02:30 CET
        at("2026-10-25 00:00Z", "2026-10-25 00:30Z", "2026-10-26 01:00Z", "2026-10-26 01:30Z"),
        id="berlin-*/30-2h",
    ),
    pytest.param(
        "0,15,45 2 * * *", BERLIN, (2026, 10, 25),
        at("2026-10-25 00:00Z", "2026-10-25 00:15Z", "2026-10-25 00:45Z",
           "2026-10-26 01:00Z", "2026-10-26 01:15Z", "2026-10-26 01:45Z"),
        id="berlin-list-2h",
    ),
    pytest.param(
        "0 */2 * * *", BERLIN, (2026, 10, 25),
        # a stepped hour field names particular hours: 02:00 runs once
        each(7200, "2026-10-24 10:00Z", "2026-10-24 22:00Z")
        + at("2026-10-25 00:00Z", "2026-10-25 03:00Z")
        + each(7200, "2026-10-25 05:00Z", "2026-10-26 11:00Z"),
        id="berlin-every-2-hours",
    ),
    pytest.param(
        "*/15 1 * * *", LORD_HOWE, (2026, 4, 5),
        # 01:30-02:00 repeats (30-minute change): 01:30 and 01:45 run at +11 only
        at("2026-04-04 14:00Z", "2026-04-04 14:15Z", "2026-04-04 14:30Z", "2026-04-04 14:45Z",
           "2026-04-05 14:30Z", "2026-04-05 14:45Z", "2026-04-05 15:00Z", "2026-04-05 15:15Z"),
        id="lord-howe-*/15-1h",
    ),
]

FIXED_HOUR_SPRING = [
    pytest.param(
        "30 2 * * *", NEW_YORK, (2026, 3, 8),
        # 02:30 does not exist on the 8th: it runs when clocks resume, at 03:00 EDT
        at("2026-03-08 07:00Z", "2026-03-09 06:30Z"),
        id="new-york-30-2h",
    ),
    pytest.param(
        "*/30 2 * * *", NEW_YORK, (2026, 3, 8),
        # 02:00 and 02:30 are both skipped: one run, not two at the same instant
        at("2026-03-08 07:00Z", "2026-03-09 06:00Z", "2026-03-09 06:30Z"),
        id="new-york-*/30-2h",
    ),
    pytest.param(
        "*/30 1 * * *", NEW_YORK, (2026, 3, 8),
        at("2026-03-08 06:00Z", "2026-03-08 06:30Z", "2026-03-09 05:00Z", "2026-03-09 05:30Z"),
        id="new-york-*/30-1h-untouched",
    ),
    pytest.param(
        "*/20 30 2 * * *", NEW_YORK, (2026, 3, 8),
        at("2026-03-08 07:00:00Z", "2026-03-09 06:30:00Z", "2026-03-09 06:30:20Z", "2026-03-09 06:30:40Z"),
        id="new-york-seconds-field",
    ),
    pytest.param(
        "0,15,45 2 * * *", BERLIN, (2026, 3, 29),
        at("2026-03-29 01:00Z", "2026-03-30 00:00Z", "2026-03-30 00:15Z", "2026-03-30 00:45Z"),
        id="berlin-list-2h",
    ),
    pytest.param(
        "0,15,45 2 * * *", LORD_HOWE, (2026, 10, 4),
        # 02:00-02:30 is skipped (30-minute change): 02:00 and 02:15 run once at
        # 02:30 +11, 02:45 runs as usual
        at("2026-10-03 15:30Z", "2026-10-03 15:45Z",
           "2026-10-04 15:00Z", "2026-10-04 15:15Z", "2026-10-04 15:45Z"),
        id="lord-howe-list-2h",
    ),
]

EVERY_HOUR = [
    # Whenever the clock shows a matching time: both passes of a repeated
    # hour, nothing for skipped times, so real elapsed time is kept.
    pytest.param("*/30 * * * *", NEW_YORK, (2026, 11, 1),
                 each(1800, "2026-10-31 16:00Z", "2026-11-02 17:00Z"), id="new-york-autumn-*/30"),
    pytest.param("*/30 * * * *", NEW_YORK, (2026, 3, 8),
                 each(1800, "2026-03-07 17:00Z", "2026-03-09 16:00Z"), id="new-york-spring-*/30"),
    pytest.param("0 * * * *", BERLIN, (2026, 10, 25),
                 each(3600, "2026-10-24 10:00Z", "2026-10-26 11:00Z"), id="berlin-autumn-hourly"),
    pytest.param("0 * * * *", BERLIN, (2026, 3, 29),
                 each(3600, "2026-03-28 11:00Z", "2026-03-30 10:00Z"), id="berlin-spring-hourly"),
    pytest.param("0 0-23 * * *", BERLIN, (2026, 10, 25),
                 each(3600, "2026-10-24 10:00Z", "2026-10-26 11:00Z"), id="berlin-autumn-0-23"),
    pytest.param("*/30 * * * *", LORD_HOWE, (2026, 4, 5),
                 each(1800, "2026-04-04 01:00Z", "2026-04-06 01:30Z"), id="lord-howe-autumn-*/30"),
    pytest.param("*/30 * * * *", LORD_HOWE, (2026, 10, 4),
                 each(1800, "2026-10-03 01:30Z", "2026-10-05 01:00Z"), id="lord-howe-spring-*/30"),
]


@pytest.mark.parametrize(("expr", "zone", "day", "expected"), FIXED_HOUR_AUTUMN)
def test_a_fixed_hour_cron_runs_once_per_wall_clock_time_in_the_repeated_hour(expr, zone, day, expected):
    schedule = CronSchedule(expr, zone)
    found = runs(schedule, around(zone, day))
    assert found == expected
    assert_both_questions_agree(schedule, found)


@pytest.mark.parametrize(("expr", "zone", "day", "expected"), FIXED_HOUR_SPRING)
def test_a_fixed_hour_cron_time_skipped_in_spring_runs_once_when_clocks_resume(expr, zone, day, expected):
    schedule = CronSchedule(expr, zone)
    found = runs(schedule, around(zone, day))
    assert found == expected
    assert_both_questions_agree(schedule, found)


@pytest.mark.parametrize(("expr", "zone", "day", "expected"), EVERY_HOUR)
def test_an_every_hour_cron_keeps_real_elapsed_time_across_the_change(expr, zone, day, expected):
    schedule = CronSchedule(expr, zone)
    found = runs(schedule, around(zone, day))
    assert found == expected
    assert_both_questions_agree(schedule, found)


@pytest.mark.parametrize(
    ("zone", "change"),
    [(NEW_YORK, "2026-11-01 06:00Z"), (NEW_YORK, "2026-03-08 07:00Z"), (LORD_HOWE, "2026-04-04 15:00Z")],
)
def test_an_every_second_cron_runs_every_real_second_across_the_change(zone, change):
    schedule = CronSchedule("* * * * * *", zone)
    instant = datetime.fromisoformat(change)
    found = runs(schedule, (instant - timedelta(minutes=10), instant + timedelta(minutes=10)))
    assert found == each(1, str(instant - timedelta(minutes=10)), str(instant + timedelta(minutes=10)))
    assert utc(schedule.latest_at_or_before(instant.timestamp() + 0.5)) == instant
    assert utc(schedule.next_after(instant.timestamp() - 0.5)) == instant


def test_regression_several_minutes_in_a_fixed_hour_do_not_run_four_times_in_the_repeated_hour():
    # Both passes of the repeated hour: 05:00-07:00 UTC in New York, 00:00-02:00 UTC in Berlin.
    new_york = runs(CronSchedule("*/30 1 * * *", NEW_YORK), (at("2026-11-01 04:59Z")[0], at("2026-11-01 07:00Z")[0]))
    berlin = runs(CronSchedule("*/30 2 * * *", BERLIN), (at("2026-10-24 23:59Z")[0], at("2026-10-25 02:00Z")[0]))
    assert new_york == at("2026-11-01 05:00Z", "2026-11-01 05:30Z")
    assert berlin == at("2026-10-25 00:00Z", "2026-10-25 00:30Z")


def test_asked_from_the_second_pass_a_fixed_hour_cron_waits_for_the_next_day():
    schedule = CronSchedule("*/30 1 * * *", NEW_YORK)
    second_pass = at("2026-11-01 06:10Z")[0].timestamp()  # 01:10 EST
    assert utc(schedule.next_after(second_pass)) == at("2026-11-02 06:00Z")[0]
    assert utc(schedule.latest_at_or_before(second_pass)) == at("2026-11-01 05:30Z")[0]


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
