"""Periodic tasks: their schedule, next and last run, pause/resume, run now.

The list comes from the task registry (what the code declares); the state
from ``ScheduleState`` (what schedulers recorded). ``view_schedulestate``
shows the page; ``change_schedulestate`` is needed to pause, resume or run
now. A pause is the ``enabled`` flag in the database, which every running
beat reads on each loop, so it takes effect within one tick.

Users who may view the database schedules (``view_periodicschedule``) see
them on the same page, each linking to its form (``admin.periodic``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from symphra_django.admin.guard import OperationsAdmin, can, guarded, render
from symphra_django.backends import backends
from symphra_django.messages import TaskMessage, from_timestamp
from symphra_django.models import PeriodicSchedule, ScheduleState
from symphra_django.ops.schedules import next_run_labels
from symphra_django.runtime.beat import Periodic
from symphra_django.tasks.base import EnqueueOptions, Task
from symphra_django.tasks.registry import registry

logger = logging.getLogger("symphra_django.admin")


@dataclass(frozen=True)
class ScheduleRow:
    """What the Schedules page shows of one periodic task, computed in the view.

    Plain values only: a ``Task`` is callable, and Django's template engine
    calls whatever callable it meets while resolving ``row.task.enabled``, so
    passing tasks to the template would run the task functions in the web
    process on every page view.
    """

    name: str
    description: str
    expression: str
    zone: str
    #: ``enabled=False`` in the task's declaration: never ticks, whatever the database says.
    enabled_in_code: bool
    #: Paused from the admin (``ScheduleState.enabled`` is False).
    paused: bool
    next_run: datetime | None
    last_run_at: datetime | None
    last_status: str
    last_error: str

    @property
    def enabled(self) -> bool:
        """Whether the schedule ticks: enabled in code and not paused."""
        return self.enabled_in_code and not self.paused


def schedule_row(task: Task, state: ScheduleState | None, now: float | None = None) -> ScheduleRow:
    schedule = task.schedule
    assert schedule is not None, task.name  # the page lists periodic tasks only
    zone = getattr(schedule, "zone", None)
    upcoming = schedule.next_after(time.time() if now is None else now)
    return ScheduleRow(
        name=task.name,
        description=schedule.describe(),
        expression=schedule.expression,
        zone=str(zone) if zone is not None else "—",
        enabled_in_code=bool(task.enabled),
        paused=state is not None and not state.enabled,
        next_run=from_timestamp(upcoming) if upcoming is not None else None,
        last_run_at=state.last_run_at if state is not None else None,
        last_status=state.last_status if state is not None else "",
        last_error=state.last_error if state is not None else "",
    )


def schedule_rows() -> list[ScheduleRow]:
    tasks = sorted(registry.periodic(), key=lambda t: t.name)
    states = ScheduleState.objects.in_bulk([t.name for t in tasks])
    now = time.time()
    return [schedule_row(task, states.get(task.name), now) for task in tasks]


def periodic_task(name: str) -> Task:
    task = registry.get(name)
    if task is None or task.schedule is None:
        raise Http404(f"no periodic task {name!r}")
    return task


def run_now(entry: Periodic) -> TaskMessage:
    """Enqueue one run of a schedule now (a code one or a database one); its
    outcome is recorded as the schedule's last run, like a tick's."""
    options = EnqueueOptions(queue=entry.queue, priority=entry.priority)
    message = entry.task.message(entry.args, entry.kwargs, options)
    message.meta = {"schedule": entry.key, "run_now": True}
    message.created = backends[entry.task.backend].enqueue_sync(message)
    return message


@dataclass(frozen=True)
class DatabaseScheduleRow:
    """What the Schedules page shows of one database schedule (plain values)."""

    name: str
    url: str
    task: str
    description: str
    expression: str
    zone: str
    enabled: bool
    next_run: str
    problem: str
    last_run_at: datetime | None
    last_status: str
    last_error: str


def database_schedule_rows() -> list[DatabaseScheduleRow]:
    schedules = list(PeriodicSchedule.objects.order_by("name"))
    states = ScheduleState.objects.in_bulk([schedule.ledger_key for schedule in schedules])
    rows = []
    for schedule in schedules:
        labels, problem = next_run_labels(schedule) if schedule.enabled else ([], "")
        state = states.get(schedule.ledger_key)
        rows.append(DatabaseScheduleRow(
            name=schedule.name,
            url=reverse("admin:symphra_django_periodicschedule_change", args=[schedule.pk]),
            task=schedule.task,
            description=schedule.describe(),
            expression=schedule.expression,
            zone=schedule.zone_name() if schedule.cron else "—",
            enabled=schedule.enabled,
            next_run=labels[0] if labels else "",
            problem=problem,
            last_run_at=state.last_run_at if state is not None else None,
            last_status=state.last_status if state is not None else "",
            last_error=state.last_error if state is not None else "",
        ))
    return rows


class ScheduleStateAdmin(OperationsAdmin):
    def operation_urls(self) -> list:
        return [
            path("", guarded(self, self.list_view, "view_schedulestate"),
                 name="symphra_django_schedulestate_changelist"),
            path("pause/", guarded(self, self.pause_view, "change_schedulestate", mutates=True),
                 name="symphra_django_schedulestate_pause"),
            path("resume/", guarded(self, self.resume_view, "change_schedulestate", mutates=True),
                 name="symphra_django_schedulestate_resume"),
            path("run/", guarded(self, self.run_view, "change_schedulestate", mutates=True),
                 name="symphra_django_schedulestate_run"),
        ]

    def list_view(self, request: HttpRequest) -> HttpResponse:
        in_database = can(request, "view_periodicschedule")
        return render(self, request, "schedules.html", "Schedules",
                      rows=schedule_rows(), can_change=can(request, "change_schedulestate"),
                      show_database=in_database,
                      database_rows=database_schedule_rows() if in_database else [],
                      can_add_database=can(request, "add_periodicschedule"))

    def _set_enabled(self, request: HttpRequest, enabled: bool) -> HttpResponse:
        task = periodic_task(request.POST.get("name", ""))
        ScheduleState.objects.update_or_create(name=task.name, defaults={"enabled": enabled})
        word = "resumed" if enabled else "paused"
        logger.info("%s %s schedule %s", request.user, word, task.name)
        messages.success(request, f"Schedule {task.name} {word}.")
        return HttpResponseRedirect(reverse("admin:symphra_django_schedulestate_changelist"))

    def pause_view(self, request: HttpRequest) -> HttpResponse:
        return self._set_enabled(request, False)

    def resume_view(self, request: HttpRequest) -> HttpResponse:
        return self._set_enabled(request, True)

    def run_view(self, request: HttpRequest) -> HttpResponse:
        task = periodic_task(request.POST.get("name", ""))
        message = run_now(Periodic.of_task(task))
        logger.info("%s ran schedule %s now (task %s)", request.user, task.name, message.id)
        messages.success(request, f"{task.name} enqueued now on {task.queue} (task {message.id}).")
        return HttpResponseRedirect(reverse("admin:symphra_django_schedulestate_changelist"))
