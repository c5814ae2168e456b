"""The Workers page: live and gone workers, what they run, ticks and their
holders, a backend down, hostile records, and "stop accepting work"."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.test import override_settings
from django.urls import reverse

from symphra_django import conf
from symphra_django.backends import MemoryBackend, QueueBackend, backends
from symphra_django.backends.workers import RunningTask, WorkerRecord
from symphra_django.models import ScheduleState
from tests.support.admin import OPERATIONS_PERMISSIONS, make_user

pytestmark = pytest.mark.django_db

URL = "/admin/symphra_django/worker/"
TTL = 600.0


class DownBackend(MemoryBackend):
    def health_check_sync(self) -> bool:
        return False


class SilentBackend(QueueBackend):
    """A custom backend without the worker registry (only the required methods)."""

    shared = False

    def enqueue_sync(self, task, scheduled_time=None, priority=None):
        return True

    def dequeue_sync(self, max_items=1, *, queue=None, lease_seconds=None):
        return []

    def acknowledge_sync(self, task):
        return False

    def reject_sync(self, task, requeue=False, *, delay=0.0, error=None, traceback=None):
        return False

    def get_queue_size_sync(self, queue=None):
        return 0

    def clear_sync(self, queue=None):
        return 0

    def health_check_sync(self):
        return True


def save(backend: QueueBackend, worker_id: str, *, ago: float = 1.0, **fields) -> WorkerRecord:
    now = time.time()
    record = WorkerRecord(worker_id=worker_id, host=worker_id.split(":")[0], pid=int(worker_id.split(":")[1]),
                          version="0.1.0", backend=backend.alias, queues=["default", "emails"], threads=4,
                          started_at=now - 3600, heartbeat_at=now - ago, **fields)
    backend.save_worker_sync(worker_id, record.to_json(), TTL)
    return record


@pytest.fixture
def operator(client, django_user_model, memory):
    client.force_login(make_user(django_user_model, "operator", perms=OPERATIONS_PERMISSIONS))
    return client


def row(body: str, worker_id: str) -> str:
    start = body.index(f'data-worker="{worker_id}"')
    return body[start:body.index("</tr>", start)]


def test_the_dashboard_links_to_the_workers_page(operator):
    body = operator.get(reverse("admin:symphra_django_queue_changelist")).content.decode()
    assert f'href="{URL}"' in body


def test_a_live_worker_is_listed_with_what_it_runs_now(operator, memory):
    started = time.time() - 12
    save(memory, "web-1:101", running=[RunningTask("t-42", "app.send_report", "emails", started, started + 60)],
         running_count=1)
    body = operator.get(URL).content.decode()
    shown = row(body, "web-1:101")
    assert "alive" in shown and "default, emails" in shown
    assert "t-42" in shown and "app.send_report" in shown and "lease expires in" in shown
    assert reverse("admin:symphra_django_queue_task", args=["default", "emails", "t-42"]) in shown
    assert "Stop accepting work" in shown
    assert "1 alive" in body


def test_a_worker_not_heard_from_within_the_timeout_is_shown_as_gone(operator, memory):
    timeout = conf.get("WORKER_TIMEOUT")
    save(memory, "web-1:101", ago=timeout - 5)
    save(memory, "web-2:202", ago=timeout + 1)
    body = operator.get(URL).content.decode()
    assert "alive" in row(body, "web-1:101")
    gone = row(body, "web-2:202")
    assert "gone" in gone and "Stop accepting work" not in gone
    assert "1 alive" in body


def test_the_ticks_show_who_holds_each_one(operator):
    tick = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    ScheduleState.objects.create(name="app.nightly", last_tick=tick, last_tick_by="web-1:101")
    body = operator.get(URL).content.decode()
    start = body.index('data-name="app.nightly"')
    shown = body[start:body.index("</tr>", start)]
    assert "2026-01-02 03:04:05" in shown and "web-1:101" in shown


@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory"},
                                         "broker": {"BACKEND": "tests.admin.test_workers_page.DownBackend"}}})
def test_a_backend_down_costs_only_its_own_section(operator):
    save(backends["default"], "web-1:101")
    response = operator.get(URL)
    body = response.content.decode()
    assert response.status_code == 200
    assert "alive" in row(body, "web-1:101")
    section = body[body.index('id="workers-broker"'):]
    assert "unreachable" in section and "health check failed" in section


def test_a_backend_without_the_registry_says_so(operator):
    backends.set("default", SilentBackend(alias="default"))
    body = operator.get(URL).content.decode()
    assert "Workers are not reported by this backend." in body


def test_a_hostile_record_is_shown_as_unreadable_and_the_others_as_usual(operator, memory):
    save(memory, "web-1:101")
    memory.save_worker_sync("evil:1", '{"host": ' + "[" * 50_000, TTL)
    memory.save_worker_sync("evil:2", '{"host": "<script>alert(1)</script>", "pid": 7}', TTL)
    body = operator.get(URL).content.decode()
    assert "alive" in row(body, "web-1:101")
    assert "unreadable" in row(body, "evil:1")
    assert "<script>alert(1)</script>" not in body  # escaped like anything else read from storage


def test_stop_asks_the_worker_and_its_next_heartbeat_hears_it(operator, memory):
    record = save(memory, "web-1:101")
    response = operator.post(reverse("admin:symphra_django_worker_stop"), {"alias": "default", "worker": "web-1:101"})
    assert response.status_code == 302
    body = operator.get(URL).content.decode()
    assert "will stop accepting work" in body
    assert "stopping" in row(body, "web-1:101")
    assert memory.save_worker_sync("web-1:101", record.to_json(), TTL) is True


def test_stop_of_an_unknown_worker_or_alias_changes_nothing(operator, memory):
    response = operator.post(reverse("admin:symphra_django_worker_stop"), {"alias": "default", "worker": "x:1"},
                             follow=True)
    assert "No live worker x:1" in response.content.decode()
    response = operator.post(reverse("admin:symphra_django_worker_stop"), {"alias": "nope", "worker": "x:1"})
    assert response.status_code == 404


def test_the_stop_button_needs_its_own_permission(client, django_user_model, memory):
    save(memory, "web-1:101")
    client.force_login(make_user(django_user_model, "viewer", perms=("view_worker",)))
    body = client.get(URL).content.decode()
    assert "alive" in row(body, "web-1:101") and "Stop accepting work" not in body
    response = client.post(reverse("admin:symphra_django_worker_stop"), {"alias": "default", "worker": "web-1:101"})
    assert response.status_code == 403
    assert memory.save_worker_sync("web-1:101", "{}", TTL) is False
