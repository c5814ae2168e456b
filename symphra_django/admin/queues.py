"""The dashboard, a queue's waiting tasks, one task, and purging a queue.

Pages of the ``Queue`` permission holder: ``view_queue`` to see them,
``delete_queue`` to purge. Every backend alias is shown through the public
``QueueBackend`` contract only (``get_stats``, ``peek``, ``get_status``,
``get_task``).
"""

from __future__ import annotations

import json
import logging
import time

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import NoReverseMatch, path, reverse

from symphra_django.admin.chart import throughput_svg
from symphra_django.admin.guard import OperationsAdmin, can, guarded, render
from symphra_django.backends import QueueBackend
from symphra_django.backends.base import NotSupported
from symphra_django.exceptions import BackendUnavailable
from symphra_django.messages import DELAYED, FAILED, IN_FLIGHT, READY, TaskMessage
from symphra_django.ops import status
from symphra_django.runtime import throughput
from symphra_django.utils.secrets import mask_urls_in

logger = logging.getLogger("symphra_django.admin")

PEEK_LIMIT = 50


def task_url(alias: str, queue: str, task_id: str) -> str:
    """The page of one task (links from the queue and failed pages)."""
    return reverse("admin:symphra_django_queue_task", args=[alias, queue, task_id])


def _state_of(task: TaskMessage) -> str:
    """The state a task read by ``get_task`` shows, for a backend without ``get_status``."""
    if task.failed_at is not None:
        return FAILED
    if task.lease_expires is not None:
        return IN_FLIGHT
    return READY if task.scheduled_time <= time.time() else DELAYED


def _pretty(value: object) -> str:
    """JSON read from storage, indented for a ``<pre>`` that wraps."""
    try:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=repr)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def resolve_queue(alias: str, queue: str) -> QueueBackend:
    """The backend of ``alias`` if it shows ``queue``; 404 otherwise."""
    try:
        backend = status.backend_for(alias)
    except KeyError:
        raise Http404(f"no backend alias {alias!r}") from None
    try:
        names = status.queue_names(backend)
    except Exception as exc:
        raise BackendUnavailable(f"{alias}: {status.problem_text(exc)}") from exc
    if queue not in names:
        raise Http404(f"no queue {queue!r} in {alias!r}")
    return backend


class QueueAdmin(OperationsAdmin):
    def operation_urls(self) -> list:
        return [
            path("", guarded(self, self.dashboard_view, "view_queue"), name="symphra_django_queue_changelist"),
            path("<str:alias>/<str:queue>/", guarded(self, self.tasks_view, "view_queue"),
                 name="symphra_django_queue_tasks"),
            path("<str:alias>/<str:queue>/purge/", guarded(self, self.purge_view, "delete_queue"),
                 name="symphra_django_queue_purge"),
            path("<str:alias>/<str:queue>/task/<path:task_id>/", guarded(self, self.task_view, "view_queue"),
                 name="symphra_django_queue_task"),
        ]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        return render(
            self, request, "dashboard.html", "Queues",
            backends=status.all_statuses(),
            chart=throughput_svg(throughput.per_minute(60)),
            can_purge=can(request, "delete_queue"),
            can_view_failed=can(request, "view_failedtask"),
            can_view_workers=can(request, "view_worker"),
        )

    def tasks_view(self, request: HttpRequest, alias: str, queue: str) -> HttpResponse:
        backend = resolve_queue(alias, queue)
        wanted = request.GET.get("id", "").strip()
        if wanted:
            return HttpResponseRedirect(task_url(alias, queue, wanted))
        tasks, note = [], None
        try:
            tasks = backend.peek_sync(queue, PEEK_LIMIT)
        except NotSupported as exc:
            note = str(exc) or f"{type(backend).__name__} cannot show queued tasks without taking them."
        except Exception as exc:  # noqa: BLE001 - shown on the page
            note = status.problem_text(exc)
        return render(
            self, request, "queue_tasks.html", f"Queue {queue} ({alias})",
            alias=alias, queue=queue, backend=mask_urls_in(backend.describe()),
            queue_status=status.queue_status(backend, queue), tasks=tasks, note=note, limit=PEEK_LIMIT,
            can_purge=can(request, "delete_queue"), history_url=self.history_url(backend, queue),
        )

    def task_view(self, request: HttpRequest, alias: str, queue: str, task_id: str) -> HttpResponse:
        """One task, whatever its state, read without taking it (``get_task``,
        ``get_status``); 404 when the backend holds no such task."""
        backend = resolve_queue(alias, queue)
        task, state, notes = None, None, []
        try:
            state = backend.get_status_sync(task_id, queue)
        except NotSupported:
            pass
        except Exception as exc:  # noqa: BLE001 - shown on the page
            notes.append(status.problem_text(exc))
        try:
            task = backend.get_task_sync(task_id, queue)
        except NotSupported as exc:
            notes.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - shown on the page
            notes.append(status.problem_text(exc))
        if state is None and task is not None:
            state = _state_of(task)
        history = self.row_url(request, backend, task_id)
        found = task is not None or state is not None
        response = render(
            self, request, "task_detail.html", f"Task {task_id}",
            alias=alias, queue=queue, task_id=task_id, task=task, state=state, notes=notes,
            found=found, history_url=history, now=time.time(),
            arguments=_pretty(task.args) if task else None, keywords=_pretty(task.kwargs) if task else None,
            meta=_pretty(task.meta) if task else None,
        )
        if not found and not notes:
            response.status_code = 404
        return response

    def history_url(self, backend: QueueBackend, queue: str) -> str | None:
        """A backend whose tasks are rows of a model (``task_model``) links to
        that model's change list, filtered to the queue."""
        if backend.task_model is None:
            return None
        app_label, model = backend.task_model.lower().split(".")
        return reverse(f"admin:{app_label}_{model}_changelist") + f"?queue__exact={queue}"

    def row_url(self, request: HttpRequest, backend: QueueBackend, task_id: str) -> str | None:
        """The change page of a task's row, where the backend keeps rows
        (``task_model``: its history, done tasks included) and the user may
        view them."""
        if backend.task_model is None:
            return None
        app_label, model = backend.task_model.lower().split(".")
        if not request.user.has_perm(f"{app_label}.view_{model}"):
            return None
        try:
            return reverse(f"admin:{app_label}_{model}_change", args=[task_id])
        except NoReverseMatch:
            return None

    def purge_view(self, request: HttpRequest, alias: str, queue: str) -> HttpResponse:
        """GET: the confirmation page with the count; POST: purge (Django's
        delete-confirmation convention)."""
        backend = resolve_queue(alias, queue)
        if request.method == "POST":
            try:
                removed = backend.clear_sync(queue)
            except Exception as exc:  # noqa: BLE001 - the operator sees why
                messages.error(request, f"Could not purge {queue} of {alias}: {status.problem_text(exc)}")
            else:
                logger.warning("%s purged queue %s of %s (%d tasks)", request.user, queue, alias, removed)
                messages.success(request, f"Purged queue {queue} of {alias}: {removed} task(s) removed.")
            return HttpResponseRedirect(reverse("admin:symphra_django_queue_changelist"))
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET", "POST"])
        return render(
            self, request, "purge_confirm.html", f"Purge queue {queue} ({alias})?",
            alias=alias, queue=queue, queue_status=status.queue_status(backend, queue),
        )
