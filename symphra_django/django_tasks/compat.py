"""Whether Django's tasks framework exists here (Django 6.0+), and what
stands in for the backend where it does not (Django 5.2)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

try:
    import django.tasks  # noqa: F401
except ImportError:  # Django < 6.0
    HAS_DJANGO_TASKS = False
else:
    HAS_DJANGO_TASKS = True

#: The dotted path projects put in ``TASKS[alias]["BACKEND"]``.
BACKEND_PATH = "symphra_django.django_tasks.SymphraBackend"

NEEDS_DJANGO_6 = (
    f"{BACKEND_PATH} is a backend of Django's tasks framework (django.tasks), "
    "which needs Django 6.0 or later; this project runs Django {version}. Upgrade "
    "Django, or use symphra_django's own @task decorator instead."
)


def needs_django_6() -> str:
    import django

    return NEEDS_DJANGO_6.format(version=django.get_version())


class UnavailableBackend:
    """Stands in for ``SymphraBackend`` on Django < 6.0: importing works (so
    ``symphra_django`` never breaks), using it says why it cannot work."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ImproperlyConfigured(needs_django_6())
