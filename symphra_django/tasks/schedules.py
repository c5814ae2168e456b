"""When periodic tasks run: cron, fixed intervals and one-off times.

Every schedule answers two questions in UTC epoch seconds, deterministically
(so that several schedulers compute the same ticks): ``next_after(t)``, the
first tick strictly after ``t``, and ``latest_at_or_before(t)``. Cron
expressions are read in a time zone; intervals are anchored to their
``start_time`` (or the Unix epoch), so ``interval(30)`` ticks at :00 and :30.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

from symphra_django.exceptions import TaskDeclarationError

#: A cron expression must fire within this many years to be accepted.
_HORIZON_YEARS = 10

_DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


def get_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TaskDeclarationError(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'Europe/Paris'"
        ) from None


class Schedule:
    """Base class of schedules; see the module docstring."""

    def next_after(self, t: float) -> float | None:
        raise NotImplementedError

    def latest_at_or_before(self, t: float) -> float | None:
        raise NotImplementedError

    def describe(self) -> str:
        """The schedule in words, for logs and the admin."""
        raise NotImplementedError

    @property
    def expression(self) -> str:
        """The schedule as written (cron expression, interval, time)."""
        raise NotImplementedError


class CronSchedule(Schedule):
    """A cron expression: 5 fields, or 6 with seconds first (``*/5 * * * * *``).

    Computed in ``zone`` (default: the configured time zone). Across a DST
    change a tick is neither skipped (a time that does not exist runs at the
    first instant after the gap) nor doubled (a fixed-hour job runs once in a
    repeated hour; a job whose hour field is ``*`` runs in both, as cron does).
    """

    def __init__(self, expr: str, zone: str | None = None) -> None:
        if not isinstance(expr, str):
            raise TaskDeclarationError(f"cron expression must be a string, got {expr!r}")
        self.expr = " ".join(expr.split())
        fields = self.expr.split(" ")
        if len(fields) not in (5, 6):
            raise TaskDeclarationError(
                f"invalid cron expression {expr!r}: it has {len(fields)} field(s); use 5 "
                "(minute hour day month weekday) or 6 with seconds first "
                "(second minute hour day month weekday)"
            )
        self.has_seconds = len(fields) == 6
        self._hour_field = fields[2 if self.has_seconds else 1]
        self._zone_name = zone
        try:
            croniter(self.expr, datetime(2000, 1, 1), second_at_beginning=self.has_seconds)
        except (CroniterError, ValueError, KeyError) as exc:
            raise TaskDeclarationError(f"invalid cron expression {expr!r}: {exc}") from None
        try:
            start = datetime(2000, 1, 1, tzinfo=UTC)
            first = self._iter(start.timestamp()).get_next(datetime)
        except (CroniterError, ValueError) as exc:
            raise TaskDeclarationError(
                f"cron expression {expr!r} never fires ({exc}); check the day and month fields"
            ) from None
        if first.year - start.year > _HORIZON_YEARS:
            raise TaskDeclarationError(f"cron expression {expr!r} never fires within {_HORIZON_YEARS} years")

    @property
    def zone(self) -> ZoneInfo:
        from symphra_django.conf import time_zone_name

        return get_zone(self._zone_name or time_zone_name())

    def _iter(self, t: float) -> croniter:
        start = datetime.fromtimestamp(t, tz=UTC).astimezone(self.zone)
        return croniter(
            self.expr, start, second_at_beginning=self.has_seconds, max_years_between_matches=_HORIZON_YEARS
        )

    def _repeated_wall_time(self, tick: datetime, previous: datetime) -> bool:
        return (
            self._hour_field != "*"
            and tick.replace(tzinfo=None) == previous.replace(tzinfo=None)
        )

    def next_after(self, t: float) -> float | None:
        it = self._iter(t)
        previous = datetime.fromtimestamp(t, tz=UTC).astimezone(self.zone)
        for _ in range(3):
            tick = it.get_next(datetime)
            if not self._repeated_wall_time(tick, previous):
                return tick.timestamp()
            previous = tick
        return tick.timestamp()

    def latest_at_or_before(self, t: float) -> float | None:
        # croniter's get_prev is strict, so start just after t.
        it = self._iter(t + 1e-6)
        tick = it.get_prev(datetime)
        before = it.get_prev(datetime)
        if self._repeated_wall_time(tick, before):
            return before.timestamp()
        return tick.timestamp()

    @property
    def expression(self) -> str:
        return self.expr

    def describe(self) -> str:
        return describe_cron(self.expr)

    def __repr__(self) -> str:
        return f"CronSchedule({self.expr!r})"


class IntervalSchedule(Schedule):
    """Every ``seconds`` seconds, anchored to ``anchor`` (epoch seconds)."""

    def __init__(self, seconds: float | timedelta, anchor: float = 0.0) -> None:
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise TaskDeclarationError(
                f"interval must be a positive number of seconds or a timedelta, got {seconds!r}"
            )
        self.seconds = float(seconds)
        self.anchor = anchor

    def next_after(self, t: float) -> float | None:
        n = math.floor((t - self.anchor) / self.seconds) + 1
        return self.anchor + max(n, 0) * self.seconds

    def latest_at_or_before(self, t: float) -> float | None:
        if t < self.anchor:
            return None
        return self.anchor + math.floor((t - self.anchor) / self.seconds) * self.seconds

    @property
    def expression(self) -> str:
        return f"every {_format_seconds(self.seconds)}"

    def describe(self) -> str:
        return f"Every {_format_seconds(self.seconds)}"

    def __repr__(self) -> str:
        return f"IntervalSchedule({self.seconds!r})"


class OnceSchedule(Schedule):
    """A single run at ``at`` (epoch seconds)."""

    def __init__(self, at: float) -> None:
        self.at = at

    def next_after(self, t: float) -> float | None:
        return self.at if self.at > t else None

    def latest_at_or_before(self, t: float) -> float | None:
        return self.at if self.at <= t else None

    @property
    def expression(self) -> str:
        return datetime.fromtimestamp(self.at, tz=UTC).isoformat()

    def describe(self) -> str:
        return f"Once, at {self.expression}"

    def __repr__(self) -> str:
        return f"OnceSchedule({self.expression!r})"


@dataclass(frozen=True)
class Window:
    """``start_time``/``end_time`` bounds of a periodic task (epoch seconds)."""

    start: float | None = None
    end: float | None = None

    def contains(self, t: float) -> bool:
        return (self.start is None or t >= self.start) and (self.end is None or t <= self.end)


def _format_seconds(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    amount: float = int(seconds) if seconds == int(seconds) else seconds
    return f"{amount} second{'s' if amount != 1 else ''}"


def check_range(value: object, name: str, low: int, high: int, decorator: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TaskDeclarationError(
            f"@{decorator}: {name}={value!r} is out of range; use an integer from {low} to {high}"
        )
    return value


def describe_cron(expr: str) -> str:
    """A short English reading of common cron expressions (raw otherwise)."""
    fields = expr.split()
    seconds = None
    if len(fields) == 6:
        seconds, fields = fields[0], fields[1:]
    minute, hour, dom, month, dow = fields
    rest_any = dom == "*" and month == "*" and dow == "*"
    if seconds == "*" and [minute, hour] == ["*", "*"] and rest_any:
        return "Every second"
    if seconds is not None and seconds.startswith("*/") and [minute, hour] == ["*", "*"] and rest_any:
        return f"Every {seconds[2:]} seconds"
    if seconds not in (None, "0"):
        return f"Cron {expr}"
    if minute.startswith("*/") and hour == "*" and rest_any:
        return f"Every {minute[2:]} minutes"
    if minute == "*" and hour == "*" and rest_any:
        return "Every minute"
    if minute.isdigit() and hour == "*" and rest_any:
        return f"Every hour at minute {int(minute)}"
    if minute.isdigit() and hour.isdigit():
        at = f"at {int(hour):02d}:{int(minute):02d}"
        if rest_any:
            return f"Every day {at}"
        if dom == "*" and month == "*" and dow.isdigit() and 0 <= int(dow) <= 7:
            return f"Every {_DAY_NAMES[int(dow) % 7]} {at}"
        if dom.isdigit() and month == "*" and dow == "*":
            return f"Day {int(dom)} of every month {at}"
    return f"Cron {expr}"
