"""Users and URLs shared by the admin tests."""

from __future__ import annotations

import json

from django.contrib.auth.models import Permission
from django.urls import reverse

#: Every permission the operations pages use, by codename.
OPERATIONS_PERMISSIONS = (
    "view_queue", "delete_queue",
    "view_failedtask", "change_failedtask", "delete_failedtask",
    "view_schedulestate", "change_schedulestate",
    "view_periodicschedule", "add_periodicschedule", "change_periodicschedule", "delete_periodicschedule",
    "view_queuedtask",
    "view_worker", "stop_worker",
)


def make_user(django_user_model, name: str, *, staff: bool = True, perms: tuple[str, ...] = ()):
    # No password (force_login): hashing one per test would cost seconds.
    user = django_user_model.objects.create_user(name, is_staff=staff)
    if perms:
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="symphra_django", codename__in=perms)
        )
    return user


def selection(alias: str, queue: str, task_id: str) -> str:
    """The value of a failed task's checkbox on the failed tasks page."""
    return json.dumps([alias, queue, task_id])


def pages(alias: str = "default", queue: str = "default") -> dict[str, tuple[str, str]]:
    """Every read-only page: name -> (url, permission it needs)."""
    return {
        "dashboard": (reverse("admin:symphra_django_queue_changelist"), "view_queue"),
        "queue tasks": (reverse("admin:symphra_django_queue_tasks", args=[alias, queue]), "view_queue"),
        "purge confirmation": (reverse("admin:symphra_django_queue_purge", args=[alias, queue]), "delete_queue"),
        "failed tasks": (reverse("admin:symphra_django_failedtask_changelist"), "view_failedtask"),
        "schedules": (reverse("admin:symphra_django_schedulestate_changelist"), "view_schedulestate"),
        "database schedules": (reverse("admin:symphra_django_periodicschedule_changelist"), "view_periodicschedule"),
        "queued tasks": (reverse("admin:symphra_django_queuedtask_changelist"), "view_queuedtask"),
        "workers": (reverse("admin:symphra_django_worker_changelist"), "view_worker"),
    }


def actions(alias: str = "default", queue: str = "default") -> dict[str, tuple[str, str, dict]]:
    """Every mutating URL: name -> (url, permission it needs, POST data)."""
    failed = {"_selected_action": [selection(alias, queue, "x")]}
    schedule = {"name": "tests.sampleapp.tasks.every_second"}
    return {
        "purge": (reverse("admin:symphra_django_queue_purge", args=[alias, queue]), "delete_queue", {}),
        "retry failed": (reverse("admin:symphra_django_failedtask_retry"), "change_failedtask", failed),
        "delete failed": (reverse("admin:symphra_django_failedtask_delete"), "delete_failedtask", failed),
        "pause schedule": (reverse("admin:symphra_django_schedulestate_pause"), "change_schedulestate", schedule),
        "resume schedule": (reverse("admin:symphra_django_schedulestate_resume"), "change_schedulestate", schedule),
        "run schedule now": (reverse("admin:symphra_django_schedulestate_run"), "change_schedulestate", schedule),
        "stop worker": (reverse("admin:symphra_django_worker_stop"), "stop_worker",
                        {"alias": alias, "worker": "host:1"}),
    }
