"""Opening an admin page never runs a task.

A ``Task`` is callable, and Django's template engine calls any callable it
resolves. Every page of the app is rendered here while every declared task
records any call made to it, and the Schedules page must still tell enabled,
paused and disabled-in-code schedules apart.
"""

from __future__ import annotations

import re

import pytest
from django.template import Context, Template
from django.test import override_settings
from django.urls import reverse

from symphra_django.backends import backends
from symphra_django.messages import TaskMessage
from symphra_django.models import PeriodicSchedule, QueuedTask, ScheduleState
from symphra_django.tasks.base import declare
from symphra_django.tasks.registry import registry
from symphra_django.tasks.schedules import CronSchedule, IntervalSchedule

pytestmark = pytest.mark.django_db(transaction=True)

ON = "tests.admin.schedule_on"
OFF_IN_CODE = "tests.admin.schedule_off_in_code"
PAUSED = "tests.admin.schedule_paused"
RAISES = "tests.admin.schedule_raises"
DECLARED = (ON, OFF_IN_CODE, PAUSED, RAISES)

SETTINGS = {
    "BACKENDS": {"default": {"BACKEND": "memory"}, "db": {"BACKEND": "database"}},
    "QUEUES": ["default", "emails"],
}


@pytest.fixture
def calls(monkeypatch):
    """Every declared task, those of this test included, appends its name to
    the returned list when called; the last one declared here also raises."""
    made: list[str] = []

    def recorder(name: str, raises: bool = False):
        def record(*args, **kwargs):
            made.append(name)
            if raises:
                raise RuntimeError(f"{name} ran")

        return record

    declare(recorder(ON), name=ON, schedule=IntervalSchedule(60), target=registry)
    declare(recorder(OFF_IN_CODE), name=OFF_IN_CODE, schedule=CronSchedule("0 3 * * *"), enabled=False,
            target=registry)
    declare(recorder(PAUSED), name=PAUSED, schedule=IntervalSchedule(3600), target=registry)
    declare(recorder(RAISES, raises=True), name=RAISES, schedule=IntervalSchedule(5), target=registry)
    for task in list(registry):
        if task.name not in DECLARED:
            monkeypatch.setattr(task, "func", recorder(task.name))
    yield made
    for name in DECLARED:
        registry.unregister(name)


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", email="root@example.com"))
    return client


@pytest.fixture
def queued(calls):
    """Queued, failed and database rows of every declared task."""
    with override_settings(SYMPHRA=SETTINGS):
        memory, database = backends["default"], backends["db"]
        for task in registry:
            if task.queue in SETTINGS["QUEUES"]:
                memory.enqueue_sync(TaskMessage(name=task.name, queue=task.queue, args=[1]))
                database.enqueue_sync(TaskMessage(name=task.name, queue=task.queue, args=[1]))
        failed = TaskMessage(name=RAISES, max_attempts=1, priority=100)  # taken first
        memory.enqueue_sync(failed)
        [leased] = memory.dequeue_sync(1, queue="default")
        assert leased.id == failed.id
        memory.reject_sync(leased, requeue=False, error="RuntimeError: ran", traceback="Traceback ...")
        ScheduleState.objects.create(name=PAUSED, enabled=False)
        for task in DECLARED:
            PeriodicSchedule.objects.create(name=f"db {task}", task=task, interval=60, args=[1])
        yield
        backends.close_all()


def every_page() -> list[str]:
    row = QueuedTask.objects.order_by("id").first()
    assert row is not None
    return [
        reverse("admin:index"),
        reverse("admin:app_list", kwargs={"app_label": "symphra_django"}),
        reverse("admin:symphra_django_queue_changelist"),
        reverse("admin:symphra_django_queue_tasks", args=["default", "default"]),
        reverse("admin:symphra_django_queue_tasks", args=["db", "default"]),
        reverse("admin:symphra_django_queue_purge", args=["default", "default"]),
        reverse("admin:symphra_django_queue_purge", args=["db", "emails"]),
        reverse("admin:symphra_django_failedtask_changelist"),
        reverse("admin:symphra_django_failedtask_changelist") + "?alias=default&queue=default",
        reverse("admin:symphra_django_schedulestate_changelist"),
        reverse("admin:symphra_django_queuedtask_changelist"),
        reverse("admin:symphra_django_queuedtask_changelist") + f"?task_name__exact={RAISES}",
        reverse("admin:symphra_django_queuedtask_change", args=[row.pk]),
        reverse("admin:symphra_django_periodicschedule_changelist"),
        reverse("admin:symphra_django_periodicschedule_add"),
        *(reverse("admin:symphra_django_periodicschedule_change", args=[pk])
          for pk in PeriodicSchedule.objects.values_list("pk", flat=True)),
    ]


def test_no_page_calls_a_task(superuser_client, calls, queued):
    for url in every_page():
        response = superuser_client.get(url)
        assert response.status_code == 200, url
    assert calls == []


def schedule_cells(body: str, name: str) -> dict[str, str]:
    match = re.search(rf'<tr id="schedule-\d+" data-name="{re.escape(name)}">(.*?)</tr>', body, re.S)
    assert match, name
    row = match.group(1)
    text = lambda html: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()  # noqa: E731
    return {
        "next run": text(re.search(r'<td class="next-run">(.*?)</td>', row, re.S).group(1)),
        "enabled": text(re.search(r'<td class="enabled">(.*?)</td>', row, re.S).group(1)),
    }


def test_schedules_page_shows_each_schedules_own_state(superuser_client, calls, queued):
    body = superuser_client.get(reverse("admin:symphra_django_schedulestate_changelist")).content.decode()
    on, off, paused, raises = (schedule_cells(body, name) for name in DECLARED)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+", on["next run"]), on
    assert on["enabled"] == "yes"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+", raises["next run"]), raises
    assert raises["enabled"] == "yes"
    assert off == {"next run": "disabled in code", "enabled": "no (disabled in code)"}
    assert paused == {"next run": "paused", "enabled": "no"}
    assert calls == []


def test_a_task_in_a_template_is_data_not_a_call(calls):
    task = registry.get(RAISES)
    rendered = Template("{{ task.name }} {{ task.enabled }} {{ task.queue }}").render(Context({"task": task}))
    assert rendered == f"{RAISES} True default"
    assert calls == []
