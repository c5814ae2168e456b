"""System check: a ``TASKS`` setting naming our backend on a Django without
``django.tasks`` (Django 5.2 ignores ``TASKS`` silently; we do not)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from symphra_django.django_tasks.compat import HAS_DJANGO_TASKS, needs_django_6


@checks.register(checks.Tags.compatibility)
def check_django_version(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if HAS_DJANGO_TASKS:
        return []
    configured = getattr(settings, "TASKS", None) or {}
    ours = [
        alias for alias, params in configured.items()
        if isinstance(params, dict) and str(params.get("BACKEND", "")).startswith("symphra_django.django_tasks")
    ]
    return [
        checks.Error(
            needs_django_6(),
            hint=f"settings.TASKS[{alias!r}]['BACKEND'] cannot be used before Django 6.0.",
            id="symphra_django.E601",
        )
        for alias in ours
    ]
