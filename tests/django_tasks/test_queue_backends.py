"""The core of Django's documented task behaviour on every real queue backend:
the queue changes, results (in the project's database) do not."""

from __future__ import annotations

from datetime import timedelta

import pytest

pytest.importorskip("django.tasks", reason="django.tasks needs Django 6.0+")

from django.tasks import TaskResultStatus  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from symphra_django.backends import backends  # noqa: E402
from tests.support import services  # noqa: E402
from tests.conformance.factories import FACTORIES  # noqa: E402
from tests.support.django_tasks import run_burst, symphra_tasks  # noqa: E402
from tests.sampleapp import django_tasks as jobs  # noqa: E402

QUEUE_BACKENDS = ["sqlite", "postgresql", "mariadb", "redis", "rabbitmq"]


@pytest.fixture(params=QUEUE_BACKENDS)
def backend(request):
    """TASKS["default"] on symphra_django, its calls carried by the queue
    backend of the parameter (as the symphra alias "default")."""
    factory = FACTORIES[request.param]()
    for service in factory.services:
        services.require(service)
    factory.prepare(request)
    if factory.databases is None:
        # Results live in the default database whatever carries the calls.
        request.applymarker(pytest.mark.django_db(transaction=True))
    request.getfixturevalue("transactional_db")
    jobs.RAN.clear()
    with symphra_tasks() as tasks_backend:
        backends.set("default", factory.make())
        try:
            yield tasks_backend
        finally:
            backends.close_all()
            factory.teardown()


@pytest.mark.urls("tests.support.django_tasks_urls")
def test_a_call_enqueued_in_a_view_succeeds_with_its_return_value(backend):
    result_id = Client().post("/add/", {"a": 40, "b": 2}).json()["id"]
    run_burst()
    result = jobs.add.get_result(result_id)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 42


def test_a_raising_call_fails_with_its_exception(backend):
    result = jobs.fail.enqueue("broken")
    run_burst()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is ValueError


def test_an_async_call_succeeds(backend):
    result = jobs.async_add.enqueue(2, 2)
    run_burst()
    result.refresh()
    assert result.return_value == 4


def test_priority_orders_due_calls_and_run_after_holds_one_back(backend):
    jobs.record.using(run_after=timezone.now() + timedelta(hours=1)).enqueue("later")
    for label, priority in [("low", -50), ("high", 50), ("mid", 0)]:
        jobs.record.using(priority=priority).enqueue(label)
    run_burst("--workers", "1", "--batch-size", "1")
    assert jobs.RAN == ["high", "mid", "low"]
