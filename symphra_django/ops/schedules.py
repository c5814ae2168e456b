"""What the admin and ``manage.py schedules`` show of a database schedule."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from symphra_django.tasks.schedules import get_zone

if TYPE_CHECKING:
    from symphra_django.models import PeriodicSchedule


def run_label(run: datetime, zone_name: str) -> str:
    """One run as people read it: local time in the schedule's zone, and UTC."""
    local = run.astimezone(get_zone(zone_name))
    text = f"{local:%a %Y-%m-%d %H:%M:%S} {local.tzname()}"
    return text if local.utcoffset() == run.utcoffset() else f"{text} ({run:%H:%M:%S} UTC)"


def next_run_labels(schedule: PeriodicSchedule) -> tuple[list[str], str]:
    """The next runs as labels, or the problem that prevents computing them."""
    try:
        return [run_label(run, schedule.zone_name()) for run in schedule.next_runs()], ""
    except Exception as exc:  # noqa: BLE001 - a row may have been written around validation
        return [], str(exc)
