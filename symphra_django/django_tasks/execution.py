"""One run of a Django task call inside a symphra worker, as Django documents it:
the result goes RUNNING (``task_started``), then SUCCESSFUL or FAILED
(``task_finished``, sent inside the exception handler on failure, like the
ImmediateBackend does), with ``TaskContext`` for ``takes_context`` tasks."""

from __future__ import annotations

import json
import logging
from traceback import format_exception

from django.tasks import TaskContext, task_backends
from django.tasks.signals import task_finished, task_started
from django.utils import timezone
from django.utils.json import normalize_json

from symphra_django.backends import QueueBackend
from symphra_django.django_tasks.bridge import ResultNotStored
from symphra_django.django_tasks.resolve import UnknownDjangoTask, resolve_task
from symphra_django.django_tasks.results import to_task_result, update_task_result
from symphra_django.messages import FAILED
from symphra_django.models.results import DjangoTaskResult
from symphra_django.runtime.worker import exception_text, worker_id
from symphra_django.utils.text import shorten_name, shorten_traceback

logger = logging.getLogger("symphra_django.django_tasks")

Status = DjangoTaskResult.Status


class LostCall(Exception):
    """A call never reached an outcome and its message is in the failed store:
    the workers running it were lost (killed, host gone), or it ran past the
    timeout and its thread was abandoned."""


class DjangoTaskFailed(Exception):
    """A Django task raised a BaseException that is not an Exception
    (KeyboardInterrupt, SystemExit, GeneratorExit …): recorded as FAILED,
    reported to the worker as this ordinary exception."""


def execute(result_id: str, path: str, alias: str) -> None:
    row = DjangoTaskResult.objects.filter(pk=result_id).first()
    if row is None:
        raise ResultNotStored(
            f"no result row {result_id!r} for Django task {path!r}: the enqueuing transaction is "
            "not committed (enqueue with transaction.on_commit) or was rolled back"
        )
    if row.status == Status.SUCCESSFUL:
        logger.info("Django task %s (%s) already succeeded; not running it again",
                    shorten_name(path), shorten_name(result_id))
        return
    if row.task_path != path or row.backend != alias:
        raise UnknownDjangoTask(
            f"message {result_id!r} names {path!r} on {alias!r} but its result row "
            f"says {row.task_path!r} on {row.backend!r}"
        )
    try:
        task = resolve_task(path, alias)
    except UnknownDjangoTask as exc:
        _record_error(row, exc)
        raise
    now = timezone.now()
    row.status = Status.RUNNING
    row.started_at = row.started_at or now
    row.last_attempted_at = now
    row.worker_ids = [*row.worker_ids, worker_id()]
    row.save(update_fields=["status", "started_at", "last_attempted_at", "worker_ids"])
    result = to_task_result(row, task)
    sender = type(task_backends[alias])
    task_started.send(sender=sender, task_result=result)
    try:
        if task.takes_context:
            value = task.call(TaskContext(task_result=result), *result.args, **result.kwargs)
        else:
            value = task.call(*result.args, **result.kwargs)
        value = normalize_json(value)
        json.dumps(value, allow_nan=False)  # fails here, as FAILED, not at save time
    except BaseException as exc:  # KeyboardInterrupt, SystemExit … included: the call FAILED
        _record_error(row, exc)
        update_task_result(result, row)
        task_finished.send(sender=sender, task_result=result)
        if isinstance(exc, Exception):
            raise
        raise DjangoTaskFailed(exception_text(exc)) from exc
    row.status = Status.SUCCESSFUL
    row.return_value = value
    row.finished_at = timezone.now()
    row.save(update_fields=["status", "return_value", "finished_at"])
    update_task_result(result, row)
    task_finished.send(sender=sender, task_result=result)


def settle_lost_call(row: DjangoTaskResult, queue_backend: QueueBackend) -> None:
    """Record FAILED for an unfinished result whose message the queue backend
    has moved to its failed store (deliveries used up by lost workers): its
    worker could not write the outcome, so the reader does."""
    if row.status in DjangoTaskResult.FINISHED:
        return
    try:
        if queue_backend.get_status_sync(row.pk, row.queue_name) != FAILED:
            return
    except Exception:
        logger.warning("cannot ask %s about %s", queue_backend.describe(), row.pk, exc_info=True)
        return
    error = LostCall(
        f"the call was delivered {len(row.worker_ids)} time(s) and never finished (its workers "
        "were lost, or it ran past SYMPHRA['TASK_TIMEOUT']); "
        f"{queue_backend.describe()} holds it in its failed store with the reason"
    )
    _record_error(row, error)


def _record_error(row: DjangoTaskResult, exc: BaseException) -> None:
    kind = type(exc)
    row.errors = [*row.errors, {
        "exception_class_path": f"{kind.__module__}.{kind.__qualname__}",
        "traceback": shorten_traceback("".join(format_exception(exc))),
    }]
    row.status = Status.FAILED
    row.finished_at = timezone.now()
    row.save(update_fields=["errors", "status", "finished_at"])
