"""The database backend's rows in a read-only ModelAdmin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from symphra_django.backends import backends
from symphra_django.backends.database.backend import DatabaseBackend
from symphra_django.messages import TaskMessage
from tests.support.admin import make_user

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:symphra_django_queuedtask_changelist"


@pytest.fixture
def database():
    backend = DatabaseBackend(alias="default")
    backends.set("default", backend)
    yield backend
    backends.close_all()


@pytest.fixture
def viewer(client, django_user_model):
    client.force_login(make_user(django_user_model, "viewer", perms=("view_queuedtask", "view_queue")))
    return client


def test_filters_by_status_queue_and_name(viewer, database):
    database.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id="a-ready"))
    database.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.send_email", id="b-mail", queue="emails"))
    url = reverse(CHANGELIST)
    assert {r.id for r in viewer.get(url, {"queue__exact": "emails"}).context["cl"].result_list} == {"b-mail"}
    assert {r.id for r in viewer.get(url, {"status__exact": "ready"}).context["cl"].result_list} == {
        "a-ready", "b-mail"}
    by_name = viewer.get(url, {"task_name__exact": "tests.sampleapp.tasks.noop"}).context["cl"].result_list
    assert {r.id for r in by_name} == {"a-ready"}


def test_search_by_id_and_name(viewer, database):
    database.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id="find-me-42"))
    database.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.send_email", id="other"))
    url = reverse(CHANGELIST)
    assert [r.id for r in viewer.get(url, {"q": "find-me"}).context["cl"].result_list] == ["find-me-42"]
    assert [r.id for r in viewer.get(url, {"q": "send_email"}).context["cl"].result_list] == ["other"]


def test_detail_shows_payload_attempts_error_and_traceback(viewer, database):
    database.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.remember", args=["payload-arg"], id="t1"))
    [leased] = database.dequeue_sync(1)
    database.reject_sync(leased, requeue=False, error="ValueError: nope", traceback="Traceback: line 1")
    body = viewer.get(reverse("admin:symphra_django_queuedtask_change", args=["t1"])).content.decode()
    for text in ("payload-arg", "ValueError: nope", "Traceback: line 1", "Attempts"):
        assert text in body
    assert 'name="_save"' not in body  # read-only


def test_the_queue_page_of_a_database_queue_links_to_its_rows(viewer, database):
    body = viewer.get(reverse("admin:symphra_django_queue_tasks", args=["default", "default"])).content.decode()
    assert reverse(CHANGELIST) + "?queue__exact=default" in body
