"""Decorators that declare periodic tasks (symphra-scheduler's set).

``@cron("*/5 * * * * *")`` (6 fields, seconds first) or ``@cron("0 3 * * *")``,
``@interval(30)``, ``@every(minutes=30)``, ``@once(at=...)``,
``@hourly(minute=)``, ``@daily(hour=, minute=)``, ``@weekly(day=, hour=,
minute=)`` (day 0 = Sunday, as in cron), ``@monthly(day=, hour=, minute=)``
and the general ``@scheduled(...)``. Every option of ``@task`` is accepted too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from symphra_django.exceptions import TaskDeclarationError
from symphra_django.tasks.base import Task, declare
from symphra_django.tasks.schedules import CronSchedule, IntervalSchedule, OnceSchedule, Schedule, check_range

Decorator = Callable[[Callable[..., Any]], Task]


def _periodic(schedule: Schedule, options: dict[str, Any]) -> Decorator:
    return lambda func: declare(func, schedule=schedule, **options)


def cron(expr: str, *, timezone: str | None = None, **options: Any) -> Decorator:
    """Run on a cron expression, read in ``timezone`` (default: the configured zone)."""
    return _periodic(CronSchedule(expr, timezone), options)


def interval(seconds: float | timedelta, **options: Any) -> Decorator:
    """Run every ``seconds`` (a number or a timedelta)."""
    start = options.get("start_time")
    anchor = start.timestamp() if isinstance(start, datetime) and start.tzinfo else 0.0
    return _periodic(IntervalSchedule(seconds, anchor), options)


def every(*, seconds: float = 0, minutes: float = 0, hours: float = 0, days: float = 0, **options: Any) -> Decorator:
    """Run every given amount of time: ``@every(minutes=30)``."""
    total = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
    if total.total_seconds() <= 0:
        raise TaskDeclarationError("@every needs a positive seconds=, minutes=, hours= or days=")
    return interval(total, **options)


def once(at: datetime, **options: Any) -> Decorator:
    """Run once, at an aware datetime."""
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise TaskDeclarationError(f"@once: at must be an aware datetime, got {at!r}")
    return _periodic(OnceSchedule(at.timestamp()), options)


def hourly(minute: int = 0, **options: Any) -> Decorator:
    check_range(minute, "minute", 0, 59, "hourly")
    return cron(f"{minute} * * * *", **options)


def daily(hour: int = 0, minute: int = 0, **options: Any) -> Decorator:
    check_range(hour, "hour", 0, 23, "daily")
    check_range(minute, "minute", 0, 59, "daily")
    return cron(f"{minute} {hour} * * *", **options)


def weekly(day: int = 0, hour: int = 0, minute: int = 0, **options: Any) -> Decorator:
    """Weekly on ``day`` (0 = Sunday … 6 = Saturday, as in cron)."""
    check_range(day, "day", 0, 6, "weekly")
    check_range(hour, "hour", 0, 23, "weekly")
    check_range(minute, "minute", 0, 59, "weekly")
    return cron(f"{minute} {hour} * * {day}", **options)


def monthly(day: int = 1, hour: int = 0, minute: int = 0, **options: Any) -> Decorator:
    """Monthly on ``day`` (1–31; months without that day are skipped, as in cron)."""
    check_range(day, "day", 1, 31, "monthly")
    check_range(hour, "hour", 0, 23, "monthly")
    check_range(minute, "minute", 0, 59, "monthly")
    return cron(f"{minute} {hour} {day} * *", **options)


def scheduled(
    *,
    cron: str | None = None,
    interval: float | timedelta | None = None,
    timezone: str | None = None,
    **options: Any,
) -> Decorator:
    """The general form: ``@scheduled(name=, cron= | interval=, start_time=,
    end_time=, max_instances=, timeout=, retry_policy=, enabled=, tags=,
    metadata=)``."""
    if (cron is None) == (interval is None):
        raise TaskDeclarationError("@scheduled needs exactly one of cron= or interval=")
    if cron is not None:
        return _periodic(CronSchedule(cron, timezone), options)
    return globals()["interval"](interval, **options)
