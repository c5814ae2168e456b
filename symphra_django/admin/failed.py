"""Failed tasks of every backend alias and queue, with bulk retry and delete.

Pages of the ``FailedTask`` permission holder: ``view_failedtask`` to see,
``change_failedtask`` to retry (re-enqueue now), ``delete_failedtask`` to
delete. Actions are POST only and act on the ticked ids of one queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from symphra_django.admin.guard import OperationsAdmin, can, guarded, render
from symphra_django.admin.queues import resolve_queue
from symphra_django.backends import backends
from symphra_django.backends.base import NotSupported
from symphra_django.messages import TaskMessage
from symphra_django.ops import status

logger = logging.getLogger("symphra_django.admin")

LIST_LIMIT = 100


@dataclass
class FailedGroup:
    alias: str
    queue: str
    tasks: list[TaskMessage] = field(default_factory=list)
    note: str | None = None


def failed_groups(alias: str | None = None, queue: str | None = None,
                  timeout: float | None = None) -> list[FailedGroup]:
    """Failed tasks per alias and queue (only groups with tasks or a note).

    Each alias is read in its own thread under one deadline for all
    (``status.gather_per_alias``); filtered to one alias, only that one is read.
    """
    aliases = backends.aliases()
    if alias is not None:
        aliases = [alias] if alias in aliases else []
    built = {name: status.new_status(name) for name in aliases}

    def work(name: str, progress: status.Progress) -> list[FailedGroup]:
        backend, backend_status = built[name]
        if backend is not None:
            status.gather_status(backend, backend_status, progress)
        if backend is None or not backend_status.healthy:
            return [FailedGroup(name, "", note=backend_status.problem)]
        groups = []
        for queue_status in backend_status.queues:
            if queue and queue_status.queue != queue:
                continue
            progress.step = f"listing the failed tasks of {queue_status.queue}"
            group = FailedGroup(name, queue_status.queue)
            try:
                group.tasks = backend.list_failed_sync(queue_status.queue, LIST_LIMIT)
            except NotSupported as exc:
                group.note = str(exc) or "this backend has no failed store to list"
            except Exception as exc:  # noqa: BLE001 - shown on the page
                group.note = status.problem_text(exc)
            if group.tasks or group.note:
                groups.append(group)
        return groups

    timeout = status.CONNECT_TIMEOUT if timeout is None else timeout
    gathered = status.gather_per_alias(work, aliases, timeout, name="symphra-failed")
    groups: list[FailedGroup] = []
    for name in aliases:
        outcome = gathered[name]
        if isinstance(outcome, status.TimedOut):
            groups.append(FailedGroup(name, "", note=str(outcome)))
        elif isinstance(outcome, Exception):
            groups.append(FailedGroup(name, "", note=status.problem_text(outcome)))
        else:
            groups.extend(outcome)
    return groups


class FailedTaskAdmin(OperationsAdmin):
    def operation_urls(self) -> list:
        return [
            path("", guarded(self, self.list_view, "view_failedtask"), name="symphra_django_failedtask_changelist"),
            path("retry/", guarded(self, self.retry_view, "change_failedtask", mutates=True),
                 name="symphra_django_failedtask_retry"),
            path("delete/", guarded(self, self.delete_view, "delete_failedtask", mutates=True),
                 name="symphra_django_failedtask_delete"),
        ]

    def list_view(self, request: HttpRequest) -> HttpResponse:
        alias, queue = request.GET.get("alias") or None, request.GET.get("queue") or None
        return render(
            self, request, "failed.html", "Failed tasks",
            groups=failed_groups(alias, queue), alias=alias, queue=queue, limit=LIST_LIMIT,
            can_retry=can(request, "change_failedtask"), can_delete=can(request, "delete_failedtask"),
        )

    def _act(self, request: HttpRequest, verb: str) -> HttpResponse:
        alias, queue = request.POST.get("alias", ""), request.POST.get("queue", "")
        backend = resolve_queue(alias, queue)
        ids = request.POST.getlist("task_id")
        if not ids:
            messages.warning(request, "No task selected.")
        else:
            action = backend.retry_failed_sync if verb == "retried" else backend.delete_failed_sync
            try:
                count = action(ids, queue)
            except Exception as exc:  # noqa: BLE001 - the operator sees why
                messages.error(request, f"Failed tasks of {queue} ({alias}) not {verb}: {status.problem_text(exc)}")
            else:
                logger.info("%s %s %d failed task(s) of %s/%s", request.user, verb, count, alias, queue)
                messages.success(request, f"{count} failed task(s) of {queue} ({alias}) {verb}.")
        return HttpResponseRedirect(reverse("admin:symphra_django_failedtask_changelist"))

    def retry_view(self, request: HttpRequest) -> HttpResponse:
        return self._act(request, "retried")

    def delete_view(self, request: HttpRequest) -> HttpResponse:
        return self._act(request, "deleted")
