"""Django's tasks framework on symphra_django: Django's documented behaviour of
a TASKS backend, run by ``runscheduler --burst`` (memory queue, results in the
database)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync

pytest.importorskip("django.tasks", reason="django.tasks needs Django 6.0+")

from django.tasks import TaskResultStatus, task  # noqa: E402
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist, TaskResultMismatch  # noqa: E402
from django.tasks.signals import task_enqueued, task_finished, task_started  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from symphra_django.django_tasks import SymphraBackend  # noqa: E402
from symphra_django.messages import DELAYED  # noqa: E402
from tests.support.django_tasks import run_burst, symphra_tasks  # noqa: E402
from tests.sampleapp import django_tasks as jobs  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backend(memory):
    jobs.RAN.clear()
    with symphra_tasks() as tasks_backend:
        yield tasks_backend


# -- capabilities and validation ----------------------------------------------------


def test_the_backend_declares_every_capability(backend):
    assert isinstance(backend, SymphraBackend)
    assert backend.supports_defer and backend.supports_async_task
    assert backend.supports_priority and backend.supports_get_result


def test_an_unknown_queue_is_refused_with_djangos_error(backend):
    with pytest.raises(InvalidTask, match="Queue 'nope' is not valid for backend"):
        jobs.add.using(queue_name="nope").enqueue(1, 2)


def test_a_task_defined_inside_a_function_is_refused(backend):
    with pytest.raises(InvalidTask, match="module level"):
        @task
        def local_task():
            pass


def test_a_context_task_needs_context_as_its_first_parameter(backend):
    with pytest.raises(InvalidTask, match="first argument of 'context'"):
        task(takes_context=True)(jobs.add.func)


def test_priority_outside_django_range_is_refused(backend):
    with pytest.raises(InvalidTask, match="priority must be a whole number between -100 and 100"):
        jobs.add.using(priority=101)


def test_arguments_must_be_json(backend):
    with pytest.raises(TypeError, match="Unsupported type"):
        jobs.add.enqueue({1, 2}, 3)


def test_unknown_options_are_refused():
    with pytest.raises(Exception, match=r"unknown key\(s\) 'bakend'; valid keys are 'backend'"):
        SymphraBackend("x", {"OPTIONS": {"bakend": "default"}})


# -- enqueue, run, result --------------------------------------------------------------


def test_enqueue_returns_a_ready_result_that_runscheduler_completes(backend):
    result = jobs.add.enqueue(2, 3)
    assert result.status == TaskResultStatus.READY and result.enqueued_at is not None
    run_burst()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.started_at <= result.finished_at
    assert result.attempts == 1 and len(result.worker_ids) == 1


@pytest.mark.urls("tests.support.django_tasks_urls")
def test_a_task_enqueued_in_a_view_runs_and_get_result_shows_its_value(backend):
    response = Client().post("/add/", {"a": 20, "b": 22})
    assert response.status_code == 202
    result_id = response.json()["id"]
    assert jobs.add.get_result(result_id).status == TaskResultStatus.READY
    run_burst()
    result = jobs.add.get_result(result_id)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 42
    assert result.args == [20, 22] and result.task == jobs.add


def test_a_raising_task_fails_with_the_exception_class_and_traceback(backend):
    result = jobs.fail.enqueue("boom")
    run_burst()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class is ValueError
    assert error.exception_class_path == "builtins.ValueError"
    assert "raise ValueError(message)" in error.traceback and "ValueError: boom" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value  # noqa: B018 - the property raises


@pytest.mark.parametrize("kind", ["GeneratorExit", "KeyboardInterrupt", "SystemExit"])
def test_a_task_raising_a_base_exception_fails_and_the_worker_runs_the_next_call(backend, memory, kind):
    result = jobs.interrupt.enqueue(kind)
    after = jobs.add.enqueue(1, 2)
    run_burst("--workers", "1")
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class_path == f"builtins.{kind}"
    assert f"{kind}: " in error.traceback and "in interrupt" in error.traceback
    [failed] = memory.list_failed_sync()
    assert failed.id == result.id and failed.error.startswith("DjangoTaskFailed: ")
    after.refresh()
    assert after.status == TaskResultStatus.SUCCESSFUL and after.return_value == 3


def test_an_async_task_raising_cancelled_error_fails(backend, memory):
    result = jobs.async_cancelled.enqueue()
    run_burst("--workers", "1")
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "asyncio.exceptions.CancelledError"


def test_a_raising_task_is_not_retried_and_lands_in_the_failed_store(backend, memory):
    result = jobs.fail.enqueue("once")
    run_burst()
    assert memory.get_status_sync(result.id) == "failed"
    assert len(backend.get_result(result.id).worker_ids) == 1


def test_a_non_json_return_value_fails_the_task(backend):
    result = jobs.returns_a_set.enqueue()
    run_burst()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is TypeError


def test_an_async_task_runs(backend):
    result = jobs.async_add.enqueue(1, 2)
    run_burst()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 3


def test_aenqueue_and_aget_result_work_from_async_code(backend):
    async def view_code():
        result = await jobs.add.aenqueue(4, 5)
        return result, await jobs.add.aget_result(result.id)

    result, fetched = async_to_sync(view_code)()
    assert fetched.id == result.id and fetched.status == TaskResultStatus.READY


def test_a_context_task_gets_the_attempt_and_its_result(backend):
    result = jobs.describe_context.enqueue("ctx")
    run_burst()
    result.refresh()
    assert result.return_value == {"label": "ctx", "attempt": 1, "id": result.id, "status": "RUNNING"}


def test_higher_priority_runs_first(backend):
    for label, priority in [("low", -100), ("mid", 0), ("high", 100), ("higher", 100)]:
        jobs.record.using(priority=priority).enqueue(label)
    run_burst("--workers", "1")
    assert jobs.RAN == ["high", "higher", "mid", "low"]


def test_run_after_is_respected(backend, memory):
    later = jobs.record.using(run_after=timezone.now() + timedelta(hours=1)).enqueue("later")
    jobs.record.enqueue("now")
    run_burst()
    assert jobs.RAN == ["now"]
    assert backend.get_result(later.id).status == TaskResultStatus.READY
    assert memory.get_status_sync(later.id) == DELAYED
    assert later.task.run_after is not None


def test_a_named_queue_is_consumed_by_runscheduler(backend):
    result = jobs.send_email.using(queue_name="emails").enqueue("a@example.com")
    run_burst("--queue", "emails")
    assert backend.get_result(result.id).return_value == "sent to a@example.com"


def test_signals_fire_in_order_with_the_backend_as_sender(backend):
    seen = []

    def receiver(signal_name):
        def receive(sender, task_result, **kwargs):
            seen.append((signal_name, sender, task_result.id, task_result.status))
        return receive

    receivers = {task_enqueued: receiver("enqueued"), task_started: receiver("started"),
                 task_finished: receiver("finished")}
    for signal, function in receivers.items():
        signal.connect(function, weak=False)
    try:
        result = jobs.add.enqueue(1, 1)
        run_burst()
    finally:
        for signal, function in receivers.items():
            signal.disconnect(function)
    assert seen == [
        ("enqueued", SymphraBackend, result.id, TaskResultStatus.READY),
        ("started", SymphraBackend, result.id, TaskResultStatus.RUNNING),
        ("finished", SymphraBackend, result.id, TaskResultStatus.SUCCESSFUL),
    ]


def test_get_result_of_an_unknown_id_raises(backend):
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("nope")


def test_get_result_of_another_task_raises_mismatch(backend):
    result = jobs.add.enqueue(1, 1)
    with pytest.raises(TaskResultMismatch):
        jobs.record.get_result(result.id)
