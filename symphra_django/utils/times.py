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


def to_timestamp(value: datetime | float | int | None) -> float:
    """An aware datetime (or epoch seconds) as epoch seconds; ``None`` is now."""
    if value is None:
        return time.time()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value!r}: pass an aware datetime "
                "(django.utils.timezone.now() + timedelta(...), or "
                "datetime(..., tzinfo=...))"
            )
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
