"""The symphra task that runs Django task calls, one registered name per queue.

A queued Django task call is a symphra message named ``django.tasks:<queue>``
whose arguments are the Django task's path and TASKS alias; its id is the
result id. The name is registered in symphra's registry (the only way a
queued name becomes code), once per queue, so ``runscheduler`` consumes every
queue a ``TASKS`` alias of ours names, and the worker calls
:func:`run_django_task`, which finds the Django task through
:mod:`.resolve` (never by importing the path blindly).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from symphra_django.exceptions import TaskDeclarationError
from symphra_django.messages import delivery_limit
from symphra_django.tasks.base import declare
from symphra_django.tasks.context import current_message
from symphra_django.tasks.registry import registry
from symphra_django.tasks.retry import RetryPolicy

PREFIX = "django.tasks:"

#: Runs of one call: a missing result row (the enqueuing transaction not
#: committed yet) is retried up to this many runs in all. An exception raised
#: by the Django task is never retried: Django's semantics are one run, then
#: FAILED.
RUNS = 5
#: Deliveries of one call whose workers keep getting lost mid-task (each
#: lost delivery counts as a run) before it goes to the failed store.
DELIVERIES = delivery_limit(RUNS)

class ResultNotStored(LookupError):
    """The result row of a queued call is not (yet) in the database."""


#: Waits between deliveries while the result row is missing: at least
#: 1 + 1 + 2 + 4 = 8 seconds in all for the enqueuing transaction to commit.
RUNNER_POLICY = RetryPolicy(max_attempts=RUNS, wait_min=1.0, wait_max=30.0, retry_on=(ResultNotStored,))


def runner_name(queue: str) -> str:
    return PREFIX + queue


def ensure_runner(queue: str) -> None:
    """Register the runner of ``queue`` in this process (idempotent)."""
    name = runner_name(queue)
    if name not in registry:
        declare(run_django_task, name=name, queue=queue, retry_policy=RUNNER_POLICY)


def run_django_task(*, task: str, backend: str) -> None:
    """Run the Django task call of the current message (its id is the result id)."""
    from symphra_django.django_tasks.execution import execute

    message = current_message()
    if message is None:
        raise RuntimeError("run_django_task runs inside a symphra worker only")
    execute(message.id, task, backend)


def register_configured_runners() -> None:
    """Register the runner of every queue that a ``TASKS`` alias of ours names."""
    from symphra_django.django_tasks.backend import SymphraBackend

    for params in (getattr(settings, "TASKS", None) or {}).values():
        try:
            backend_class = import_string(params["BACKEND"])
        except Exception:  # noqa: BLE001 - Django reports a broken TASKS entry itself, on first use
            continue
        if isinstance(backend_class, type) and issubclass(backend_class, SymphraBackend):
            for queue in params.get("QUEUES") or ["default"]:
                try:
                    ensure_runner(queue)
                except TaskDeclarationError:
                    continue  # an invalid queue name: the backend's check reports it
