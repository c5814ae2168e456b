"""Times for the database backend: epoch seconds ⇄ the ORM's datetimes
(defined in :mod:`symphra_django.utils.times`)."""

from __future__ import annotations

from symphra_django.utils.times import model_datetime
from symphra_django.utils.times import model_epoch as to_epoch

__all__ = ["model_datetime", "to_epoch"]
