"""Shared set-up of the tests of symphra_django.django_tasks (Django 6.0+)."""

from __future__ import annotations

from contextlib import contextmanager

from django.core.management import call_command
from django.test import override_settings

BACKEND = "symphra_django.django_tasks.SymphraBackend"
TASKS = {"default": {"BACKEND": BACKEND, "QUEUES": ["default", "emails"]}}


@contextmanager
def symphra_tasks(**params):
    """``TASKS["default"]`` on symphra_django for the block."""
    from django.tasks import task_backends

    with override_settings(TASKS={"default": {**TASKS["default"], **params}}):
        yield task_backends["default"]


def run_burst(*options: str) -> None:
    """``manage.py runscheduler --burst`` in this process."""
    call_command("runscheduler", "--burst", "--no-beat", *options, verbosity=0)
