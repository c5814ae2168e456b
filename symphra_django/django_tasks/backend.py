"""``SymphraBackend``: a ``TASKS`` backend that runs Django tasks on symphra queues."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils import timezone

from symphra_django.backends import QueueBackend, backends
from symphra_django.backends.handler import unknown_alias
from symphra_django.django_tasks.bridge import RUNNER_POLICY, ensure_runner, runner_name
from symphra_django.django_tasks.execution import settle_lost_call
from symphra_django.django_tasks.resolve import UnknownDjangoTask, remember, resolve_task
from symphra_django.django_tasks.results import to_task_result
from symphra_django.messages import TaskMessage, new_task_id
from symphra_django.models.results import DjangoTaskResult
from symphra_django.utils.identifiers import validate_identifier

#: ``OPTIONS`` keys and their defaults.
OPTIONS = {
    # The alias in SYMPHRA["BACKENDS"] of the queue backend that carries the calls.
    "backend": "default",
}


class SymphraBackend(BaseTaskBackend):
    """Enqueues ``@django.tasks.task`` calls on a symphra queue backend; ``runscheduler``
    runs them and keeps their results in the project's database.

    Django's priorities (-100..100, higher first) are symphra's priorities,
    unchanged; ``run_after`` is the message's scheduled time.
    """

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        if not isinstance(self.options, dict):
            raise InvalidTaskBackend(f"TASKS[{alias!r}]['OPTIONS'] must be a dict, got {self.options!r}")
        unknown = sorted(set(self.options) - set(OPTIONS))
        if unknown:
            raise InvalidTaskBackend(
                f"TASKS[{alias!r}]['OPTIONS'] has unknown key(s) {', '.join(map(repr, unknown))}; "
                f"valid keys are {', '.join(map(repr, OPTIONS))}"
            )
        self.queue_backend_alias: str = self.options.get("backend", OPTIONS["backend"])
        for queue in self.queues:
            try:
                ensure_runner(queue)
            except ValueError:
                pass  # an invalid queue name: check() reports it, validate_task refuses it

    @property
    def queue_backend(self) -> QueueBackend:
        return backends[self.queue_backend_alias]

    # -- enqueueing ----------------------------------------------------------------

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        try:
            validate_identifier(task.queue_name, "queue")
        except ValueError as exc:
            raise InvalidTask(str(exc)) from None
        remember(task)

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        result = TaskResult(
            task=task,
            id=new_task_id(),
            status=TaskResultStatus.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,  # normalize_json: TypeError for what JSON cannot hold
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        row = DjangoTaskResult.objects.create(
            id=result.id,
            task_path=task.module_path,
            status=DjangoTaskResult.Status.READY,
            backend=self.alias,
            queue_name=task.queue_name,
            priority=task.priority,
            run_after=task.run_after,
            args=result.args,
            kwargs=result.kwargs,
            enqueued_at=result.enqueued_at,
        )
        ensure_runner(task.queue_name)
        message = TaskMessage(
            id=result.id,
            name=runner_name(task.queue_name),
            kwargs={"task": task.module_path, "backend": self.alias},
            queue=task.queue_name,
            priority=task.priority,
            scheduled_time=_timestamp(task.run_after),
            max_attempts=RUNNER_POLICY.max_attempts,
        )
        try:
            self.queue_backend.enqueue_sync(message)
        except BaseException:
            row.delete()
            raise
        task_enqueued.send(type(self), task_result=result)
        return result

    # -- results -------------------------------------------------------------------

    def get_result(self, result_id: str) -> TaskResult:
        row = DjangoTaskResult.objects.filter(pk=result_id, backend=self.alias).first()
        if row is None:
            raise TaskResultDoesNotExist(result_id)
        settle_lost_call(row, self.queue_backend)
        try:
            task = resolve_task(row.task_path, row.backend)
        except UnknownDjangoTask as exc:
            raise TaskResultDoesNotExist(f"{result_id}: {exc}") from None
        return to_task_result(row, task)

    # -- checks --------------------------------------------------------------------

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors: list[checks.CheckMessage] = []
        try:
            aliases = backends.aliases()
        except ImproperlyConfigured:
            aliases = None  # SYMPHRA itself is invalid: symphra_django.E001 says how
        if aliases is not None and self.queue_backend_alias not in aliases:
            errors.append(checks.Error(
                f"TASKS[{self.alias!r}]['OPTIONS']['backend']: {unknown_alias(self.queue_backend_alias, aliases)}",
                id="symphra_django.E602",
            ))
        for queue in sorted(self.queues):
            try:
                validate_identifier(queue, "queue")
            except ValueError as exc:
                errors.append(checks.Error(f"TASKS[{self.alias!r}]['QUEUES']: {exc}", id="symphra_django.E603"))
        if not self.queues:
            errors.append(checks.Warning(
                f"TASKS[{self.alias!r}]['QUEUES'] is empty, so any queue name is accepted, "
                "but runscheduler consumes only the queues it knows",
                hint="List the queues in TASKS[...]['QUEUES'] (or SYMPHRA['QUEUES']).",
                id="symphra_django.W601",
            ))
        return errors


def _timestamp(run_after: datetime | None) -> float:
    if run_after is None:
        return timezone.now().timestamp()
    if timezone.is_naive(run_after):  # USE_TZ = False: Django allows naive times
        run_after = timezone.make_aware(run_after)
    return run_after.timestamp()
