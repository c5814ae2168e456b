"""Numbers and durations as the admin pages show them.

``{% load symphra_admin %}``, then:

* ``{{ n|count }}``: ``12,345`` (the thousands separator of the active
  locale), whatever ``USE_THOUSAND_SEPARATOR`` says, and without needing
  ``django.contrib.humanize`` in ``INSTALLED_APPS``;
* ``{{ seconds|duration }}``: ``42 s``, ``13 min``, ``2 h 5 min``, ``3 d 4 h``;
* ``{{ epoch|since }}``: ``13 min ago`` or ``in 5 min`` for epoch seconds;
* ``{{ task|call_arguments }}``: ``42, "a", retry=true``, cut short.
"""

from __future__ import annotations

import json
import time

from django import template
from django.utils.formats import number_format

from symphra_django.messages import TaskMessage
from symphra_django.utils.text import shorten

register = template.Library()


@register.filter
def count(value: object) -> object:
    """An integer with thousands separators; anything else as it is."""
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return number_format(value, decimal_pos=0, force_grouping=True)


def human_duration(seconds: float) -> str:
    """``0.4 s``, ``42 s``, ``13 min``, ``2 h 5 min``, ``3 d 4 h``: two units
    at most, the second dropped when it is zero."""
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    big, unit, small, small_unit = (
        (whole // 3600, "h", whole % 3600 // 60, "min") if whole < 86400
        else (whole // 86400, "d", whole % 86400 // 3600, "h")
    )
    return f"{big} {unit} {small} {small_unit}" if small else f"{big} {unit}"


@register.filter
def duration(seconds: object) -> str:
    """Seconds as :func:`human_duration`; ``—`` for None."""
    if seconds is None or isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return "—"
    return human_duration(seconds)


@register.filter
def since(epoch: object) -> str:
    """Epoch seconds relative to now: ``13 min ago``, ``in 5 min``."""
    if epoch is None or isinstance(epoch, bool) or not isinstance(epoch, (int, float)):
        return ""
    delta = time.time() - epoch
    return f"{human_duration(delta)} ago" if delta >= 0 else f"in {human_duration(-delta)}"


#: Characters of a call's arguments a list shows (the task's page shows all).
ARGUMENTS_SHOWN = 300


@register.filter
def call_arguments(task: TaskMessage) -> str:
    """A task's arguments as a call would read them, ``42, "a", retry=true``
    (JSON values), cut to :data:`ARGUMENTS_SHOWN` characters."""
    try:
        parts = [json.dumps(arg, ensure_ascii=False) for arg in task.args]
        parts += [f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in task.kwargs.items()]
    except (TypeError, ValueError, RecursionError, AttributeError):
        return "—"
    return shorten(", ".join(parts), ARGUMENTS_SHOWN)


@register.filter
def expiry(epoch: object) -> str:
    """A lease's deadline: ``expires in 42 s`` or ``expired 3 s ago``."""
    text = since(epoch)
    return f"expires {text}" if text.startswith("in ") else f"expired {text}" if text else ""


@register.filter
def state_label(state: object) -> str:
    """``in flight`` for ``in_flight`` (``messages.TASK_STATES``)."""
    return str(state).replace("_", " ") if state else "—"
