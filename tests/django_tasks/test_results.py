"""Results of Django task calls: stored in the database, read from anywhere,
attempts counted across deliveries, pruned after the retention."""

from __future__ import annotations

import time
from datetime import timedelta
from io import StringIO

import pytest

pytest.importorskip("django.tasks", reason="django.tasks needs Django 6.0+")

from django.core.management import call_command  # noqa: E402
from django.tasks import TaskResultStatus  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from symphra_django.django_tasks import prune_results  # noqa: E402
from symphra_django.models import DjangoTaskResult  # noqa: E402
from tests.support.django_tasks import run_burst, symphra_tasks  # noqa: E402
from tests.sampleapp import django_tasks as jobs  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backend(memory):
    with symphra_tasks() as tasks_backend:
        yield tasks_backend


def test_a_result_row_records_the_call(backend):
    run_after = timezone.now() + timedelta(minutes=5)
    result = jobs.add.using(priority=7, run_after=run_after).enqueue(1, b=2)
    row = DjangoTaskResult.objects.get(pk=result.id)
    assert (row.task_path, row.status, row.backend, row.queue_name) == (
        "tests.sampleapp.django_tasks.add", "READY", "default", "default")
    assert (row.priority, row.run_after, row.args, row.kwargs) == (7, run_after, [1], {"b": 2})


def test_get_result_rebuilds_the_task_as_enqueued(backend):
    run_after = timezone.now() + timedelta(minutes=5)
    result = jobs.add.using(priority=-3, queue_name="emails", run_after=run_after).enqueue(1, 2)
    fetched = backend.get_result(result.id)
    assert fetched.task.func is jobs.add.func
    assert (fetched.task.priority, fetched.task.queue_name, fetched.task.run_after) == (-3, "emails", run_after)


def test_refresh_sees_what_a_worker_wrote(backend):
    result = jobs.add.enqueue(1, 2)
    run_burst()
    assert result.status == TaskResultStatus.READY
    result.refresh()
    assert result.is_finished and result.return_value == 3 and result.finished_at is not None


def test_a_call_redelivered_after_a_lost_worker_counts_a_second_attempt(backend, memory, clock):
    result = jobs.describe_context.enqueue("again")
    # A worker takes the call, marks it running and dies: its lease expires.
    [message] = memory.dequeue_sync(1, queue="default", lease_seconds=30)
    DjangoTaskResult.objects.filter(pk=result.id).update(status="RUNNING", worker_ids=["lost-host:1"])
    clock.advance(31)
    run_burst()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value["attempt"] == 2
    assert result.worker_ids[0] == "lost-host:1" and len(result.worker_ids) == 2


def make_finished(age: float, status: str = "SUCCESSFUL") -> str:
    now = timezone.now()
    row = DjangoTaskResult.objects.create(
        id=f"old-{time.monotonic_ns()}", task_path=jobs.add.module_path, backend="default",
        queue_name="default", status=status, enqueued_at=now - timedelta(seconds=age),
        finished_at=now - timedelta(seconds=age),
    )
    return row.pk


def test_prune_deletes_finished_results_older_than_the_retention_only(backend):
    old_ok, old_failed = make_finished(7200), make_finished(7200, "FAILED")
    recent = make_finished(60)
    pending = jobs.add.enqueue(1, 1).id
    assert prune_results(3600, batch_size=1) == 2
    assert set(DjangoTaskResult.objects.values_list("pk", flat=True)) == {recent, pending}
    assert not DjangoTaskResult.objects.filter(pk__in=[old_ok, old_failed]).exists()


def test_prune_defaults_to_the_history_retention(backend):
    make_finished(7200)
    with override_settings(SYMPHRA={"HISTORY_RETENTION": 3600}):
        assert prune_results() == 1
    with override_settings(SYMPHRA={"HISTORY_RETENTION": None}):
        make_finished(10**7)
        assert prune_results() == 0


def test_prunetaskresults_command_dry_run_counts_and_deletes_nothing(backend):
    make_finished(3 * 86400)
    out = StringIO()
    call_command("prunetaskresults", "--older-than", "1d", "--dry-run", stdout=out)
    assert "Would delete 1 Django task result(s)." in out.getvalue()
    assert DjangoTaskResult.objects.count() == 1
    call_command("prunetaskresults", "--older-than", "1d", stdout=out)
    assert DjangoTaskResult.objects.count() == 0


def test_retrying_a_failed_call_from_the_failed_store_runs_it_again(backend, memory):
    result = jobs.fail.enqueue("flaky")
    run_burst()
    assert memory.retry_failed_sync([result.id]) == 1
    run_burst()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert len(result.errors) == 2 and len(result.worker_ids) == 2


def test_on_the_database_queue_a_rolled_back_enqueue_leaves_neither_result_nor_message():
    from django.db import transaction

    from symphra_django.backends import backends
    from symphra_django.backends.database.backend import DatabaseBackend

    queue = DatabaseBackend(alias="default")
    backends.set("default", queue)
    try:
        with symphra_tasks(), pytest.raises(RuntimeError):
            with transaction.atomic():
                result = jobs.add.enqueue(1, 2)
                raise RuntimeError("the view failed")
        assert not DjangoTaskResult.objects.filter(pk=result.id).exists()
        assert queue.get_status_sync(result.id) is None
    finally:
        backends.close_all()


def test_a_call_whose_workers_were_all_lost_reads_as_failed(backend, memory, clock):
    from symphra_django.django_tasks.bridge import DELIVERIES

    result = jobs.add.enqueue(1, 2)
    for attempt in range(DELIVERIES):
        # Each worker takes the call, starts it and dies: the lease expires.
        assert memory.dequeue_sync(1, queue="default", lease_seconds=30)
        DjangoTaskResult.objects.filter(pk=result.id).update(
            status="RUNNING", worker_ids=[f"lost:{n}" for n in range(attempt + 1)])
        clock.advance(31)
    assert memory.dequeue_sync(1, queue="default") == []  # the limit: to the failed store
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class_path == "symphra_django.django_tasks.execution.LostCall"
    assert f"delivered {DELIVERIES} time(s) and never finished" in error.traceback


def test_a_call_past_the_task_timeout_reads_as_failed(backend):
    from symphra_django.backends import backends

    timeout = {"BACKENDS": {"default": {"BACKEND": "memory"}}, "TASK_TIMEOUT": 0.05}
    with override_settings(SYMPHRA=timeout):
        result = jobs.sleep.enqueue(0.5)
        run_burst()
        assert backends["default"].get_status_sync(result.id) == "failed"
        result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path.endswith("LostCall")
