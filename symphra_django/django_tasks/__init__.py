"""Django's tasks framework (``django.tasks``, Django 6.0+) on symphra queues.

Configure ``TASKS = {"default": {"BACKEND": "symphra_django.django_tasks.SymphraBackend"}}``
and every ``@django.tasks.task`` is enqueued on a symphra queue backend, run
by ``manage.py runscheduler`` and its result kept in the project's database.
See docs/django-tasks.md.

On Django 5.2 this package imports cleanly; ``SymphraBackend`` then raises
``ImproperlyConfigured`` when used, and a system check reports a ``TASKS``
setting that names it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symphra_django.django_tasks.compat import HAS_DJANGO_TASKS

# The type checker sees the real backend (the stand-in has no other API).
if TYPE_CHECKING or HAS_DJANGO_TASKS:
    from symphra_django.django_tasks.backend import SymphraBackend
else:
    from symphra_django.django_tasks.compat import UnavailableBackend as SymphraBackend


def app_ready() -> None:
    """Called by the app's ``ready()``: register the system check and, on
    Django 6, the runner of every queue a ``TASKS`` alias of ours names, so
    ``runscheduler`` consumes those queues in every process."""
    from symphra_django.django_tasks import checks  # noqa: F401 - registers the system check

    if HAS_DJANGO_TASKS:
        from symphra_django.django_tasks.bridge import register_configured_runners

        register_configured_runners()


def __getattr__(name: str):
    # prune_results touches the models: import it lazily so the package can
    # be imported before the app registry is ready.
    if name == "prune_results":
        from symphra_django.django_tasks.retention import prune_results

        return prune_results
    raise AttributeError(name)


__all__ = ["HAS_DJANGO_TASKS", "SymphraBackend", "app_ready", "prune_results"]
