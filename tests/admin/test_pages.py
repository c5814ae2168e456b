"""What the operations admin shows and does, over the backend contract."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings
from django.urls import reverse

from symphra_django.backends import MemoryBackend, backends
from symphra_django.backends.base import NotSupported
from symphra_django.messages import TaskMessage
from symphra_django.models import ScheduleState
from tests.support.admin import OPERATIONS_PERMISSIONS, make_user

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-pw"
EVERY_SECOND = "tests.sampleapp.tasks.every_second"


class UrlBackend(MemoryBackend):
    """A custom backend whose description holds a URL with a password."""

    def __init__(self, *, url: str = "", **options) -> None:
        super().__init__(**options)
        self.url = url

    def describe(self) -> str:
        return f"UrlBackend({self.alias}, {self.url})"

    def peek_sync(self, queue=None, limit=20):
        raise NotSupported("this broker cannot show queued tasks without taking them")


class DownBackend(MemoryBackend):
    def health_check_sync(self) -> bool:
        return False


TWO_BACKENDS = {
    "BACKENDS": {
        "default": {"BACKEND": "memory"},
        "broker": {"BACKEND": "tests.admin.test_pages.UrlBackend",
                   "OPTIONS": {"url": f"amqp://user:{SECRET}@127.0.0.1:5672/"}},
    },
    "QUEUES": ["default", "emails"],
}


@pytest.fixture
def admin_client(client, django_user_model, memory):
    client.force_login(make_user(django_user_model, "operator", perms=OPERATIONS_PERMISSIONS))
    return client


def failed_task(backend, queue="default", error="boom", name="tests.sampleapp.tasks.always_fails"):
    task = TaskMessage(name=name, queue=queue, max_attempts=1)
    backend.enqueue_sync(task)
    [leased] = backend.dequeue_sync(1, queue=queue)
    backend.reject_sync(leased, requeue=False, error=error, traceback="Traceback (most recent call last):\n  here")
    return task


def test_dashboard_shows_every_queue_with_its_counts_and_health(admin_client, memory):
    memory.enqueue_sync(TaskMessage(name="noop", scheduled_time=time.time() - 30))
    memory.enqueue_sync(TaskMessage(name="noop", scheduled_time=time.time() + 3600))
    memory.enqueue_sync(TaskMessage(name="noop", queue="emails"))
    memory.dequeue_sync(1, queue="emails")
    failed_task(memory, queue="reports")
    response = admin_client.get(reverse("admin:symphra_django_queue_changelist"))
    rows = {q.queue: q for q in response.context["backends"][0].queues}
    assert response.context["backends"][0].healthy
    assert (rows["default"].stats.ready, rows["default"].stats.delayed) == (1, 1)
    assert rows["emails"].stats.in_flight == 1
    assert rows["reports"].stats.failed == 1
    assert 29 <= rows["default"].oldest_due_age() < 120
    assert "healthy" in response.content.decode()


def test_dashboard_draws_the_throughput_chart_from_the_recorded_minutes(admin_client):
    from symphra_django.models import ThroughputMinute
    from symphra_django.runtime.throughput import minute_start

    ThroughputMinute.objects.create(alias="default", queue="default", minute=minute_start(time.time()),
                                    done=7, failed=2)
    body = admin_client.get(reverse("admin:symphra_django_queue_changelist")).content.decode()
    assert "<svg" in body
    assert "7 done, 2 failed" in body


@override_settings(SYMPHRA=TWO_BACKENDS)
def test_every_alias_is_on_the_dashboard_and_passwords_are_masked_everywhere(admin_client):
    failed_task(backends["broker"])
    urls = [
        reverse("admin:symphra_django_queue_changelist"),
        reverse("admin:symphra_django_queue_tasks", args=["broker", "default"]),
        reverse("admin:symphra_django_queue_purge", args=["broker", "default"]),
        reverse("admin:symphra_django_failedtask_changelist"),
        reverse("admin:symphra_django_schedulestate_changelist"),
    ]
    dashboard = admin_client.get(urls[0]).content.decode()
    assert "id=\"backend-default\"" in dashboard and "id=\"backend-broker\"" in dashboard
    assert "amqp://user:***@127.0.0.1:5672/" in dashboard
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200
        assert SECRET not in response.content.decode(), url


@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory"},
                                         "down": {"BACKEND": "tests.admin.test_pages.DownBackend"}}})
def test_an_unhealthy_backend_is_shown_as_such_and_the_page_still_renders(admin_client):
    response = admin_client.get(reverse("admin:symphra_django_queue_changelist"))
    down = [b for b in response.context["backends"] if b.alias == "down"][0]
    assert not down.healthy
    assert "unhealthy" in response.content.decode()


def test_queue_page_shows_the_next_due_tasks_without_taking_them(admin_client, memory):
    first = TaskMessage(name="tests.sampleapp.tasks.remember", args=["hello"], priority=5)
    memory.enqueue_sync(first)
    response = admin_client.get(reverse("admin:symphra_django_queue_tasks", args=["default", "default"]))
    assert [t.id for t in response.context["tasks"]] == [first.id]
    assert first.id in response.content.decode()
    assert memory.get_stats_sync("default").ready == 1


@override_settings(SYMPHRA=TWO_BACKENDS)
def test_queue_page_says_honestly_when_a_broker_cannot_show_tasks(admin_client):
    response = admin_client.get(reverse("admin:symphra_django_queue_tasks", args=["broker", "default"]))
    assert "cannot show queued tasks without taking them" in response.content.decode()


def test_unknown_alias_or_queue_is_404(admin_client):
    assert admin_client.get(reverse("admin:symphra_django_queue_tasks", args=["nope", "default"])).status_code == 404
    assert admin_client.get(reverse("admin:symphra_django_queue_purge", args=["default", "nope"])).status_code == 404


def test_purge_confirmation_says_how_many_tasks_will_go_and_removes_nothing(admin_client, memory):
    for _ in range(3):
        memory.enqueue_sync(TaskMessage(name="noop"))
    response = admin_client.get(reverse("admin:symphra_django_queue_purge", args=["default", "default"]))
    assert '<strong id="purge-count">3</strong>' in response.content.decode()
    assert memory.get_queue_size_sync("default") == 3


def test_purge_empties_that_queue_only_and_keeps_failed_tasks(admin_client, memory):
    memory.enqueue_sync(TaskMessage(name="noop"))
    memory.enqueue_sync(TaskMessage(name="noop", queue="emails"))
    failed_task(memory)
    response = admin_client.post(reverse("admin:symphra_django_queue_purge", args=["default", "default"]),
                                 follow=True)
    assert "1 task(s) removed" in response.content.decode()
    assert memory.get_queue_size_sync("default") == 0
    assert memory.get_queue_size_sync("emails") == 1
    assert memory.get_stats_sync("default").failed == 1


def test_schedules_show_expression_in_words_and_raw_with_zone_and_state(admin_client):
    ScheduleState.objects.create(name=EVERY_SECOND, last_status="failed", last_error="it broke",
                                 last_run_at="2026-01-01T00:00:00Z")
    body = admin_client.get(reverse("admin:symphra_django_schedulestate_changelist")).content.decode()
    assert EVERY_SECOND in body
    assert "* * * * * *" in body
    assert "UTC" in body
    assert "failed" in body and "it broke" in body


def test_pause_and_resume_persist_the_enabled_flag(admin_client):
    admin_client.post(reverse("admin:symphra_django_schedulestate_pause"), {"name": EVERY_SECOND})
    assert ScheduleState.objects.get(name=EVERY_SECOND).enabled is False
    admin_client.post(reverse("admin:symphra_django_schedulestate_resume"), {"name": EVERY_SECOND})
    assert ScheduleState.objects.get(name=EVERY_SECOND).enabled is True


def test_run_now_enqueues_the_periodic_task_at_once(admin_client, memory):
    admin_client.post(reverse("admin:symphra_django_schedulestate_run"), {"name": EVERY_SECOND})
    [message] = memory.peek_sync("default")
    assert message.name == EVERY_SECOND
    assert message.meta["schedule"] == EVERY_SECOND
    assert message.scheduled_time <= time.time()


def test_unknown_schedule_is_404(admin_client):
    response = admin_client.post(reverse("admin:symphra_django_schedulestate_pause"), {"name": "nope"})
    assert response.status_code == 404


@pytest.fixture
def heartbeat():
    """A periodic task declared for one test (every second)."""
    from symphra_django.tasks.registry import registry
    from symphra_django.tasks.schedules import IntervalSchedule
    from symphra_django.tasks.base import declare

    def heartbeat() -> None:
        pass

    task = declare(heartbeat, name="tests.admin.heartbeat", schedule=IntervalSchedule(1), target=registry)
    yield task
    registry.unregister(task.name)


def test_a_pause_from_the_admin_stops_the_beat_at_its_next_tick_and_resume_restarts_it(
    admin_client, memory, heartbeat
):
    from symphra_django.runtime.beat import Beat
    from symphra_django.runtime.ticks import DatabaseLedger
    from symphra_django.tasks.registry import registry

    ledger = DatabaseLedger()
    ledger.ensure([heartbeat.name])
    beat = Beat(registry, lambda task: memory, ledger)
    admin_client.post(reverse("admin:symphra_django_schedulestate_pause"), {"name": heartbeat.name})
    beat.run_pending()
    assert memory.get_queue_size_sync("default") == 0
    admin_client.post(reverse("admin:symphra_django_schedulestate_resume"), {"name": heartbeat.name})
    beat.run_pending()
    assert [t.name for t in memory.peek_sync("default")] == [heartbeat.name]


def test_users_see_only_the_buttons_they_may_use(client, django_user_model, memory):
    failed_task(memory)
    client.force_login(make_user(django_user_model, "viewer",
                                 perms=("view_queue", "view_failedtask", "view_schedulestate")))
    dashboard = client.get(reverse("admin:symphra_django_queue_changelist")).content.decode()
    failed = client.get(reverse("admin:symphra_django_failedtask_changelist")).content.decode()
    schedules = client.get(reverse("admin:symphra_django_schedulestate_changelist")).content.decode()
    assert "Purge" not in dashboard
    assert "Retry selected" not in failed and "Delete selected" not in failed
    assert "Pause" not in schedules and "Run now" not in schedules


class BrokenBackend(MemoryBackend):
    """Connected, then its server goes away."""

    def queues_sync(self):
        raise ConnectionError("server went away")

    def health_check_sync(self) -> bool:
        return False


@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory"},
                                         "broken": {"BACKEND": "tests.admin.test_pages.BrokenBackend"}}})
def test_a_page_of_a_backend_that_went_away_sends_back_to_the_dashboard_with_the_reason(admin_client):
    response = admin_client.get(reverse("admin:symphra_django_queue_tasks", args=["broken", "default"]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:symphra_django_queue_changelist")
    assert "server went away" in response.content.decode()
