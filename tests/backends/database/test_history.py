"""History of the database backend: queries, retention and ``prunetasks``."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from symphra_django.backends.database.backend import DatabaseBackend
from symphra_django.backends.database.history import prune_history
from symphra_django.messages import TaskMessage
from symphra_django.models import QueuedTask
from tests.support.databases import use_database

DATABASE_BACKENDS = {"default": {"BACKEND": "database"}}


@pytest.fixture
def backend(request) -> DatabaseBackend:
    use_database(request, "default")
    with override_settings(SYMPHRA={"BACKENDS": DATABASE_BACKENDS}):
        yield DatabaseBackend()


def run(backend: DatabaseBackend, name: str, *, queue: str = "default", fail: bool = False) -> str:
    task = TaskMessage(name=name, queue=queue)
    backend.enqueue_sync(task)
    [got] = backend.dequeue_sync(1, queue=queue)
    if fail:
        backend.reject_sync(got, error="boom")
    else:
        backend.acknowledge_sync(got)
    return task.id


def age(task_id: str, days: float) -> None:
    QueuedTask.objects.filter(pk=task_id).update(
        finished_at=timezone.now() - timedelta(days=days)
    )


def test_history_is_queryable_by_task_name_status_and_queue(backend):
    done = run(backend, "app.mail", queue="emails")
    failed = run(backend, "app.mail", queue="emails", fail=True)
    run(backend, "app.report")
    backend.enqueue_sync(TaskMessage(name="app.mail", queue="emails"))  # pending: not history
    history = QueuedTask.objects.history
    assert {r.pk for r in history(task_name="app.mail")} == {done, failed}
    assert [r.pk for r in history(task_name="app.mail", status="failed")] == [failed]
    assert history(queue="default").count() == 1


def test_history_is_queryable_by_finishing_time_newest_first(backend):
    old, recent = run(backend, "a"), run(backend, "b")
    age(old, 3)
    since = timezone.now() - timedelta(days=1)
    assert [r.pk for r in QueuedTask.objects.history(since=since)] == [recent]
    assert [r.pk for r in QueuedTask.objects.history(until=since)] == [old]
    assert [r.pk for r in QueuedTask.objects.finished()] == [recent, old]


def test_prune_deletes_finished_rows_older_than_the_retention_in_batches(backend):
    old = [run(backend, "a") for _ in range(5)] + [run(backend, "a", fail=True)]
    for task_id in old:
        age(task_id, 10)
    kept = run(backend, "a")
    backend.enqueue_sync(TaskMessage(name="a", id="pending"))
    assert prune_history(batch_size=2) == 6  # HISTORY_RETENTION: 7 days by default
    assert set(QueuedTask.objects.values_list("pk", flat=True)) == {kept, "pending"}


def test_prune_never_touches_pending_or_in_flight_tasks(backend):
    backend.enqueue_sync(TaskMessage(name="a", id="waiting"))
    backend.enqueue_sync(TaskMessage(name="a", id="running"))
    backend.dequeue_sync(1)
    assert prune_history(older_than=0) == 0
    assert QueuedTask.objects.count() == 2


def test_prune_with_a_retention_of_none_keeps_everything(backend):
    age(run(backend, "a"), 1000)
    with override_settings(SYMPHRA={"BACKENDS": DATABASE_BACKENDS, "HISTORY_RETENTION": None}):
        assert prune_history() == 0
    assert QueuedTask.objects.count() == 1


def test_prunetasks_dry_run_counts_without_deleting(backend):
    age(run(backend, "a"), 2)
    out = StringIO()
    call_command("prunetasks", "--older-than", "1d", "--dry-run", stdout=out)
    assert "Would delete 1 finished task(s)." in out.getvalue()
    assert QueuedTask.objects.count() == 1


def test_prunetasks_deletes_only_the_chosen_status(backend):
    age(run(backend, "a"), 2)
    age(run(backend, "a", fail=True), 2)
    out = StringIO()
    call_command("prunetasks", "--older-than", "3600", "--status", "done", stdout=out)
    assert "Deleted 1 finished task(s)." in out.getvalue()
    assert list(QueuedTask.objects.values_list("status", flat=True)) == ["failed"]


def test_prunetasks_refuses_a_bad_age(backend):
    with pytest.raises(CommandError, match="older-than"):
        call_command("prunetasks", "--older-than", "soon")
