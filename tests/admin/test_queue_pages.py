"""The dashboard and queue pages tell the truth: the order workers take
tasks in, one task's page, attempts by one rule, readable numbers and times."""

from __future__ import annotations

import logging
import time

import pytest
from django.test import override_settings
from django.urls import reverse

from symphra_django import Scheduler
from symphra_django.messages import TaskMessage
from tests.support.admin import OPERATIONS_PERMISSIONS, make_user

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("admin:symphra_django_queue_changelist")


def queue_page(alias="default", queue="default"):
    return reverse("admin:symphra_django_queue_tasks", args=[alias, queue])


def task_page(task_id, alias="default", queue="default"):
    return reverse("admin:symphra_django_queue_task", args=[alias, queue, task_id])


@pytest.fixture
def operator(client, django_user_model, memory):
    client.force_login(make_user(django_user_model, "operator", perms=OPERATIONS_PERMISSIONS))
    return client


def enqueue_a_mix(backend, now):
    """Due and delayed tasks of several priorities; returns the order a worker takes them in."""
    for task_id, due, priority in [
        ("due-low-old", now - 60, 0), ("in-an-hour-high", now + 3600, 9), ("due-high", now - 5, 5),
        ("in-a-minute-low", now + 60, -5), ("due-low-new", now - 30, 0), ("in-an-hour-mid", now + 3600, 3),
    ]:
        backend.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id=task_id), due, priority)
    return ["due-high", "due-low-old", "due-low-new", "in-a-minute-low", "in-an-hour-high", "in-an-hour-mid"]


def shown(response) -> list[str]:
    return [t.id for t in response.context["tasks"]]


# -- order --------------------------------------------------------------------------------------


def test_the_queue_page_lists_tasks_in_the_order_workers_take_them(operator, memory):
    expected = enqueue_a_mix(memory, time.time())
    response = operator.get(queue_page())
    assert shown(response) == expected
    assert "in the order workers will take them" in response.content.decode()
    assert [t.id for t in memory.dequeue_sync(10)] == expected[:3]


@pytest.mark.django_db(transaction=True)
@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory"}, "db": {"BACKEND": "database"}}})
def test_the_database_queue_lists_delayed_tasks_by_when_they_fall_due(operator):
    from symphra_django.backends import backends

    expected = enqueue_a_mix(backends["db"], time.time())
    assert shown(operator.get(queue_page("db"))) == expected
    assert [t.id for t in backends["db"].dequeue_sync(10)] == expected[:3]


# -- one task -----------------------------------------------------------------------------------


def test_a_task_id_on_the_queue_page_opens_its_page_with_arguments(operator, memory):
    memory.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.remember", id="job-1", args=["hello", 3],
                                    kwargs={"to": "ops@example.com"}, priority=4, max_attempts=3))
    assert f'href="{task_page("job-1")}"' in operator.get(queue_page()).content.decode()
    response = operator.get(task_page("job-1"))
    body = response.content.decode()
    assert response.status_code == 200
    assert '<td class="state">ready</td>' in body
    assert "tests.sampleapp.tasks.remember" in body and "&quot;hello&quot;" in body and "ops@example.com" in body
    assert '<td class="attempts">0 of 3' in body


def test_a_task_in_flight_shows_its_lease_holder_and_expiry(operator, memory):
    memory.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id="busy"))
    [leased] = memory.dequeue_sync(1, lease_seconds=300)
    body = operator.get(task_page("busy")).content.decode()
    assert '<td class="state">in flight</td>' in body
    assert f"token <code>{leased.lease_token}</code>, expires in 4 min" in body
    assert '<td class="attempts">1 of 1' in body


def test_a_failed_task_shows_its_error_traceback_and_failure_time(operator, memory):
    memory.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id="broke"))
    [leased] = memory.dequeue_sync(1)
    memory.reject_sync(leased, error="ValueError: no", traceback="Traceback (most recent call last):\n  here")
    body = operator.get(task_page("broke")).content.decode()
    assert '<td class="state">failed</td>' in body
    assert "ValueError: no" in body and "Traceback (most recent call last)" in body and "<th>Failed</th>" in body


def test_any_task_can_be_looked_up_by_id_from_the_queue_page(operator, memory):
    memory.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id="needle"))
    memory.dequeue_sync(1)  # in flight: not in the waiting list
    response = operator.get(queue_page() + "?id=needle")
    assert response["Location"] == task_page("needle")


def test_an_unknown_task_is_404_with_the_reason(operator, memory):
    response = operator.get(task_page("never-was"))
    assert response.status_code == 404
    assert "holds no task never-was" in response.content.decode()


def test_a_task_id_with_slashes_and_spaces_has_its_page(operator, memory):
    memory.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id="report/2024 q1"))
    assert operator.get(task_page("report/2024 q1")).status_code == 200


@pytest.mark.django_db(transaction=True)
@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory"}, "db": {"BACKEND": "database"}}})
def test_a_database_task_links_to_its_row_and_history(operator):
    from symphra_django.backends import backends

    backends["db"].enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id="row-1"))
    [leased] = backends["db"].dequeue_sync(1)
    backends["db"].acknowledge_sync(leased)
    response = operator.get(task_page("row-1", alias="db"))
    assert response.status_code == 404, "done: no longer in the queue"
    assert reverse("admin:symphra_django_queuedtask_change", args=["row-1"]) in response.content.decode()


# -- attempts: one rule ------------------------------------------------------------------------


@pytest.fixture
def no_retry_task():
    """A task declared ``retry_policy="no_retry"`` that raises."""
    from symphra_django.tasks.base import declare
    from symphra_django.tasks.registry import registry

    def explode() -> None:
        raise ValueError("no second chance")

    task = declare(explode, name="tests.admin.no_retry_explodes", retry_policy="no_retry", target=registry)
    yield task
    registry.unregister(task.name)


def test_a_task_without_retries_reads_1_of_1_in_the_log_the_failed_page_and_its_page(
    operator, memory, caplog, no_retry_task
):
    message = no_retry_task.enqueue()
    with caplog.at_level(logging.ERROR, logger="symphra_django.worker"):
        Scheduler("default", beat=False, poll_interval=0.01).run_burst()
    [logged] = [r.getMessage() for r in caplog.records if message.id in r.getMessage()]
    assert "failed on attempt 1 of 1:" in logged
    failed_page = operator.get(reverse("admin:symphra_django_failedtask_changelist")).content.decode()
    assert '<td class="field-attempts symphra-attempts">1 of 1</td>' in failed_page
    assert '<td class="attempts">1 of 1 ' in operator.get(task_page(message.id)).content.decode()
    assert "1 of 3" not in failed_page


def test_deliveries_past_the_policys_runs_say_they_were_crash_redeliveries(operator, memory, clock):
    memory.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id="poison", max_attempts=1))
    for _ in range(3):
        memory.dequeue_sync(1, lease_seconds=1)
        clock.advance(2)
    body = operator.get(reverse("admin:symphra_django_failedtask_changelist")).content.decode()
    assert "3 of 1 (2 crash redeliveries)" in body


def test_a_task_waiting_for_its_retry_shows_the_deliveries_it_had(operator, memory):
    memory.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id="again", max_attempts=3))
    [leased] = memory.dequeue_sync(1)
    memory.reject_sync(leased, requeue=True, delay=60, error="ValueError: once")
    assert "<td class=\"symphra-attempts\">1 of 3</td>" in operator.get(queue_page()).content.decode()


# -- numbers, durations, layout ----------------------------------------------------------------


def test_counts_have_thousands_separators_and_waits_read_in_minutes(operator, memory):
    now = time.time()
    memory.enqueue_many_sync([TaskMessage(name="tests.sampleapp.tasks.noop", scheduled_time=now - 796)]
                             + [TaskMessage(name="tests.sampleapp.tasks.noop") for _ in range(1233)])
    dashboard = operator.get(DASHBOARD).content.decode()
    assert '<td class="ready symphra-number">1,234</td>' in dashboard
    assert '<td class="oldest-due">13 min</td>' in dashboard
    assert "Ready <strong>1,234</strong>" in operator.get(queue_page()).content.decode()


def test_long_arguments_are_cut_on_the_list_and_whole_on_the_task_page(operator, memory):
    memory.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.remember", id="big", args=["x" * 5000]))
    listing = operator.get(queue_page()).content.decode()
    assert "x" * 290 in listing and "x" * 400 not in listing and "(5,002 chars)" in listing
    assert '<td class="symphra-args">' in listing
    assert "x" * 5000 in operator.get(task_page("big")).content.decode()


@pytest.fixture
def viewer(client, django_user_model, memory):
    client.force_login(make_user(django_user_model, "viewer", perms=("view_queue",)))
    return client


def test_the_task_page_needs_view_queue(client, django_user_model, memory, viewer):
    memory.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id="t"))
    assert viewer.get(task_page("t")).status_code == 200
    client.force_login(make_user(django_user_model, "staff"))
    assert client.get(task_page("t")).status_code == 403
    client.logout()
    assert client.get(task_page("t"))["Location"].startswith("/admin/login/")
