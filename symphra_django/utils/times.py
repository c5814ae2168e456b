"""Epoch seconds ⇄ datetimes, defined once.

Messages, schedules and ledgers carry epoch seconds (UTC). Callers hand in
aware datetimes (``to_timestamp``) and read aware UTC ones back
(``from_timestamp``). Model ``DateTimeField`` values are aware under
``USE_TZ`` and naive in ``TIME_ZONE`` without it, as Django stores them
(``model_datetime`` and ``model_epoch``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def naive_datetime_error(what: str, value: datetime, why: str = "") -> str:
    """The one message refusing a naive datetime (a wall-clock time in no
    zone, which servers in other zones or a DST change would read differently)."""
    return (
        f"{what}={value!r} is a naive datetime{f' and {why}' if why else ''}: pass an aware datetime, e.g. "
        "django.utils.timezone.now() + timedelta(minutes=5), or "
        "django.utils.timezone.make_aware(value) for a time in settings.TIME_ZONE"
    )


def to_timestamp(value: datetime | float | int | None, what: str = "scheduled_time") -> float:
    """An aware datetime (or epoch seconds) as epoch seconds; ``None`` is now.
    A naive datetime is refused (ValueError): it names no zone."""
    if value is None:
        return time.time()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(naive_datetime_error(what, value))
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected an aware datetime or epoch seconds, got {value!r}")
    return float(value)


def from_timestamp(value: float) -> datetime:
    """Epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(value, tz=UTC)


def model_datetime(epoch: float) -> datetime:
    """Epoch seconds as the datetime the ORM expects (aware under USE_TZ)."""
    from django.conf import settings
    from django.utils import timezone

    value = from_timestamp(epoch)
    return value if settings.USE_TZ else timezone.make_naive(value)


def model_epoch(value: datetime) -> float:
    """A datetime read from a model as epoch seconds (a naive one is in TIME_ZONE)."""
    from django.utils import timezone

    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value.timestamp()
