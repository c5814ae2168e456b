"""Times for the database backend: epoch seconds ⇄ the ORM's datetimes.

Messages carry epoch seconds (UTC). The model's ``DateTimeField`` wants an
aware datetime under ``USE_TZ`` and a naive one in ``TIME_ZONE`` without it,
as Django stores them.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone

from django.conf import settings
from django.utils import timezone


def model_datetime(epoch: float) -> datetime:
    """Epoch seconds as the datetime the ORM expects (aware under USE_TZ)."""
    value = datetime.fromtimestamp(epoch, tz=dt_timezone.utc)
    return value if settings.USE_TZ else timezone.make_naive(value)


def to_epoch(value: datetime) -> float:
    """A datetime read from the model as epoch seconds."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value.timestamp()
