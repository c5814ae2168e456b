"""When periodic tasks run: cron, fixed intervals and one-off times.

Every schedule answers two questions in UTC epoch seconds, deterministically
(so that several schedulers compute the same ticks): ``next_after(t)``, the
first tick strictly after ``t``, and ``latest_at_or_before(t)``. Cron
expressions are read in a time zone; intervals are anchored to their
``start_time`` (or the Unix epoch), so ``interval(30)`` ticks at :00 and :30.
"""

from __future__ import annotations

import math
import threading
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

    Computed in ``zone`` (default: the configured time zone). The expression
    names local wall-clock times; across a DST change they map onto real
    instants as follows:

    * A job whose hour field names particular hours (``30 1 * * *``,
      ``*/30 1 * * *``, ``0 */2 * * *``) runs once per wall-clock time: in a
      repeated (autumn) stretch only at the first occurrence; a time that a
      spring change skips runs once, at the instant the clocks resume.
    * A job whose hour field matches every hour (``*``, ``*/1``, ``0-23``)
      runs whenever the clock shows a matching time: in both passes of a
      repeated stretch, and not at all for skipped times, which keeps it on
      real elapsed time across a one-hour change.
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
        self._zone_name = zone
        self._local = threading.local()
        try:
            probe = croniter(self.expr, datetime(2000, 1, 1), second_at_beginning=self.has_seconds)
        except (CroniterError, ValueError, KeyError) as exc:
            raise TaskDeclarationError(f"invalid cron expression {expr!r}: {exc}") from None
        # croniter folds ``*/1`` and ``0-23`` into ``*``; its hour field is second
        # in both the 5- and the 6-field layout.
        self._every_hour = probe.expanded[1] == ["*"]
        try:
            start = datetime(2000, 1, 1, tzinfo=UTC)
            first = self.next_after(start.timestamp())
        except (CroniterError, ValueError) as exc:
            raise TaskDeclarationError(
                f"cron expression {expr!r} never fires ({exc}); check the day and month fields"
            ) from None
        if first is None or _utc_year(first) - start.year > _HORIZON_YEARS:
            raise TaskDeclarationError(f"cron expression {expr!r} never fires within {_HORIZON_YEARS} years")

    @property
    def zone(self) -> ZoneInfo:
        from symphra_django.conf import time_zone_name

        return get_zone(self._zone_name or time_zone_name())

    def _cron(self) -> croniter:
        # One croniter per thread: parsing the expression costs as much as a
        # search, and a croniter keeps its position between calls, so threads
        # (beat, admin requests) must not share one.
        it = getattr(self._local, "croniter", None)
        if it is None:
            it = croniter(
                self.expr,
                datetime(2000, 1, 1),
                second_at_beginning=self.has_seconds,
                max_years_between_matches=_HORIZON_YEARS,
            )
            self._local.croniter = it
        return it

    # Wall-clock times are naive datetimes read in the zone; croniter only
    # ever sees those, so it matches fields without any notion of DST, and the
    # mapping onto instants below is the one place DST is decided. Cron fields
    # have whole seconds, which makes "at or after" a strict search from one
    # second earlier.

    def _next_wall(self, after: datetime, inclusive: bool) -> datetime:
        start = after - _SECOND if inclusive else after.replace(microsecond=0)
        return self._cron().get_next(datetime, start_time=start)

    def _prev_wall(self, before: datetime, inclusive: bool) -> datetime:
        start = before.replace(microsecond=0) + _SECOND if inclusive else before
        return self._cron().get_prev(datetime, start_time=start)

    def _ticks(self, placed: _Placement) -> tuple[float, ...]:
        """The instants a matching wall-clock time runs at, earliest first."""
        if self._every_hour or len(placed.instants) == 1:
            return placed.instants
        if placed.instants:
            return placed.instants[:1]  # repeated: the first occurrence only
        return (placed.change,)  # skipped: when the clocks resume

    def _first_tick_after(self, wall: datetime, inclusive: bool, t: float, zone: ZoneInfo) -> float:
        while True:
            w = self._next_wall(wall, inclusive)
            placed = _place(w, zone)
            later = [tick for tick in self._ticks(placed) if tick > t]
            if later:
                return later[0]
            # A skipped time of an every-hour job, or a repeated time whose
            # first occurrence already ran: resume after that stretch.
            wall, inclusive = (placed.end, True) if placed.end is not None else (w, False)

    def _last_tick_at_or_before(self, wall: datetime, inclusive: bool, t: float, zone: ZoneInfo) -> float:
        while True:
            w = self._prev_wall(wall, inclusive)
            placed = _place(w, zone)
            earlier = [tick for tick in self._ticks(placed) if tick <= t]
            if earlier:
                return earlier[-1]
            wall, inclusive = (placed.start, False) if placed.start is not None else (w, False)

    def next_after(self, t: float) -> float | None:
        zone = self.zone
        here = datetime.fromtimestamp(t, zone)
        wall = here.replace(tzinfo=None)
        tick = self._first_tick_after(wall, False, t, zone)
        if self._every_hour and here.fold == 0 and here.replace(fold=1).utcoffset() != here.utcoffset():
            # t is in the first pass of a repeated stretch: the second pass of
            # the times already behind us is still ahead.
            repeated = _place(wall, zone)
            assert repeated.start is not None
            tick = min(tick, self._first_tick_after(repeated.start, True, t, zone))
        return tick

    def latest_at_or_before(self, t: float) -> float | None:
        zone = self.zone
        here = datetime.fromtimestamp(t, zone)
        wall = here.replace(tzinfo=None)
        tick = self._last_tick_at_or_before(wall, True, t, zone)
        if here.fold == 1:
            # t is in the second pass of a repeated stretch: the first pass of
            # the times still ahead of it on the clock is already behind us.
            repeated = _place(wall, zone)
            assert repeated.end is not None
            tick = max(tick, self._last_tick_at_or_before(repeated.end, False, t, zone))
        return tick

    @property
    def expression(self) -> str:
        return self.expr

    def describe(self) -> str:
        return describe_cron(self.expr)

    def __repr__(self) -> str:
        return f"CronSchedule({self.expr!r})"


_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)


def _utc_year(t: float) -> int:
    return datetime.fromtimestamp(t, tz=UTC).year


@dataclass(frozen=True)
class _Placement:
    """Where a local wall-clock time falls on the real time line of a zone.

    ``instants`` has one element, or two (earliest first) for a time that a
    clock change repeats, or none for a time it skips. For those two,
    ``change`` is the instant of the change and ``start``/``end`` bound the
    repeated or skipped wall-clock times (end excluded).
    """

    instants: tuple[float, ...]
    change: float = 0.0
    start: datetime | None = None
    end: datetime | None = None


def _instant(wall: datetime, offset: timedelta) -> float:
    return (wall - offset - _EPOCH).total_seconds()


def _wall(instant: float, offset: timedelta) -> datetime:
    return _EPOCH + timedelta(seconds=instant) + offset


def _offset_at(instant: float, zone: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(instant, zone).utcoffset()


def _clock_change(before: float, after: float, zone: ZoneInfo) -> float:
    """The instant ``zone`` changes its UTC offset, between ``before`` and ``after``.

    The two are at most the size of the change apart, so there is one change
    between them; zone changes happen on whole seconds, so halving finds it in
    a dozen steps (zoneinfo does not publish its transitions).
    """
    low, high = math.floor(before), math.ceil(after)
    old = _offset_at(low, zone)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_at(middle, zone) == old:
            low = middle
        else:
            high = middle
    return float(high)


def _place(wall: datetime, zone: ZoneInfo) -> _Placement:
    # For a repeated or skipped wall time, fold=0 reads it with the offset in
    # force before the change and fold=1 with the one after (PEP 495).
    before = wall.replace(tzinfo=zone, fold=0).utcoffset()
    after = wall.replace(tzinfo=zone, fold=1).utcoffset()
    assert before is not None and after is not None
    if before == after:
        return _Placement((_instant(wall, before),))
    if before > after:  # clocks went back: the wall time shows twice
        first, second = _instant(wall, before), _instant(wall, after)
        change = _clock_change(first, second, zone)
        return _Placement((first, second), change, _wall(change, after), _wall(change, before))
    # clocks went forward: the wall time never shows
    change = _clock_change(_instant(wall, after), _instant(wall, before), zone)
    return _Placement((), change, _wall(change, before), _wall(change, after))


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


def upcoming(schedule: Schedule, after: float, count: int, window: Window | None = None) -> list[float]:
    """The first ``count`` ticks of ``schedule`` after ``after`` that fall in
    ``window`` (fewer if the window ends first), earliest first.

    A tick exactly at the window's start counts: the beat runs it too.
    """
    window = window or Window()
    ticks: list[float] = []
    t = after
    if window.start is not None and window.start > after:
        t = window.start
        if schedule.latest_at_or_before(window.start) == window.start:
            ticks.append(window.start)
    while len(ticks) < count:
        tick = schedule.next_after(t)
        if tick is None or (window.end is not None and tick > window.end):
            break
        ticks.append(tick)
        t = tick
    return ticks[:count]


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
