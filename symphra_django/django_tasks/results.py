"""Between the result rows (``DjangoTaskResult``) and Django's ``TaskResult``."""

from __future__ import annotations

from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.base import TaskError

from symphra_django.models.results import DjangoTaskResult


def to_task_result(row: DjangoTaskResult, task: Task) -> TaskResult:
    """The ``TaskResult`` a row stands for; ``task`` is the row's task."""
    if (task.priority, task.queue_name, task.run_after) != (row.priority, row.queue_name, row.run_after):
        task = task.using(priority=row.priority, queue_name=row.queue_name, run_after=row.run_after)
    result = TaskResult(
        task=task,
        id=row.pk,
        status=TaskResultStatus(row.status),
        enqueued_at=row.enqueued_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        last_attempted_at=row.last_attempted_at,
        args=row.args,
        kwargs=row.kwargs,
        backend=row.backend,
        errors=[],
        worker_ids=[],
    )
    update_task_result(result, row)
    return result


def update_task_result(result: TaskResult, row: DjangoTaskResult) -> None:
    """Copy the row's state onto ``result`` (Django mutates results in place:
    the object a task's context holds sees its own progress)."""
    values = {
        "status": TaskResultStatus(row.status),
        "enqueued_at": row.enqueued_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "last_attempted_at": row.last_attempted_at,
        "errors": [TaskError(**error) for error in row.errors],
        "worker_ids": list(row.worker_ids),
        "_return_value": row.return_value,
    }
    for name, value in values.items():
        object.__setattr__(result, name, value)
