"""A queued Django task call never makes a worker import or run arbitrary code:
the path it names resolves only to a ``@django.tasks.task`` of an installed app
enqueued through a SymphraBackend alias; anything else fails with the reason."""

from __future__ import annotations

import sys
import time

import pytest

pytest.importorskip("django.tasks", reason="django.tasks needs Django 6.0+")

from django.tasks import TaskResultStatus  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from symphra_django.django_tasks.bridge import runner_name  # noqa: E402
from symphra_django.messages import DELAYED, FAILED, TaskMessage  # noqa: E402
from symphra_django.models import DjangoTaskResult  # noqa: E402
from tests.support.django_tasks import BACKEND, run_burst, symphra_tasks  # noqa: E402
from tests.sampleapp import django_tasks as jobs  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backend(memory):
    with symphra_tasks() as tasks_backend:
        yield tasks_backend


def plant(memory, path: str, *, alias: str = "default", row: bool = True, message_path: str | None = None) -> str:
    """Store a call of ``path`` as a writer of the queue could: a result row
    (unless ``row`` is False) and a runner message."""
    result_id = f"planted-{time.monotonic_ns()}"
    if row:
        DjangoTaskResult.objects.create(id=result_id, task_path=path, backend=alias, queue_name="default",
                                        enqueued_at=timezone.now())
    memory.enqueue_sync(TaskMessage(id=result_id, name=runner_name("default"),
                                    kwargs={"task": message_path or path, "backend": alias}, max_attempts=3))
    return result_id


def failure(result_id: str) -> tuple[str, str]:
    row = DjangoTaskResult.objects.get(pk=result_id)
    assert row.status == TaskResultStatus.FAILED
    [error] = row.errors
    return error["exception_class_path"], error["traceback"]


def test_a_module_outside_the_installed_apps_is_never_imported(backend, memory):
    assert "turtle" not in sys.modules
    result_id = plant(memory, "turtle.done")
    run_burst()
    kind, trace = failure(result_id)
    assert kind == "symphra_django.django_tasks.resolve.UnknownDjangoTask"
    assert "'turtle.done' is not in an installed app" in trace
    assert "turtle" not in sys.modules
    assert memory.get_status_sync(result_id) == FAILED


def test_an_installed_app_object_that_is_not_a_django_task_is_refused(backend, memory):
    result_id = plant(memory, "tests.sampleapp.tasks.remember")
    run_burst()
    assert "is not a @django.tasks.task function" in failure(result_id)[1]


def test_a_task_of_an_alias_that_is_not_ours_is_refused(memory):
    immediate = {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}
    with override_settings(TASKS={"default": {"BACKEND": BACKEND}, "immediate": immediate}):
        result_id = plant(memory, jobs.add.module_path, alias="immediate")
        run_burst()
    assert "TASKS['immediate'] is ImmediateBackend, not SymphraBackend" in failure(result_id)[1]


def test_a_message_that_disagrees_with_its_result_row_is_refused(backend, memory):
    result_id = plant(memory, jobs.add.module_path, message_path=jobs.fail.module_path)
    run_burst()
    assert memory.get_status_sync(result_id) == FAILED
    assert DjangoTaskResult.objects.get(pk=result_id).status == TaskResultStatus.READY


def test_a_call_whose_result_row_is_missing_is_retried_later_not_run(backend, memory):
    # E.g. enqueued inside a transaction that has not committed yet.
    result_id = plant(memory, jobs.add.module_path, row=False)
    run_burst()
    assert memory.get_status_sync(result_id) == DELAYED
    assert not DjangoTaskResult.objects.filter(pk=result_id).exists()


def test_a_successful_call_delivered_again_does_not_run_again(backend, memory):
    result = jobs.record.enqueue("once")
    jobs.RAN.clear()
    run_burst()
    memory.enqueue_sync(TaskMessage(id=result.id, name=runner_name("default"),
                                    kwargs={"task": jobs.record.module_path, "backend": "default"}))
    run_burst()
    assert jobs.RAN == ["once"]
