"""The Workers page: the ``runscheduler`` processes of every backend alias,
what each one runs now, the beat's ticks and who holds them, and "stop
accepting work".

Pages of the ``Worker`` model: ``view_worker`` to see them, ``stop_worker``
to ask a worker to stop. The workers come from each backend's worker
registry (:mod:`symphra_django.backends.workers`), every alias read in its
own thread under one deadline (:mod:`symphra_django.ops.health`), so one
broker down costs the page only its own section.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from symphra_django import conf
from symphra_django.admin.guard import OperationsAdmin, can, guarded, render
from symphra_django.backends.workers import ALIVE, GONE, STOPPING, UNREADABLE, RunningTask, WorkerRecord
from symphra_django.models import ScheduleState
from symphra_django.ops import health, status
from symphra_django.utils.text import shorten_name

logger = logging.getLogger("symphra_django.admin")

#: Ticks the page lists (the ledger has one row per schedule).
TICKS_SHOWN = 200


@dataclass(frozen=True)
class WorkerRow:
    """What the page shows of one worker (plain values: templates call callables)."""

    worker_id: str
    state: str
    host: str = ""
    pid: int = 0
    version: str = ""
    role: str = ""
    queues: str = ""
    threads: int = 0
    beat: bool = False
    beat_at: float | None = None
    started_at: float | None = None
    heartbeat_at: float | None = None
    running: tuple[RunningTask, ...] = ()
    running_count: int = 0
    unreadable: str = ""

    @property
    def can_stop(self) -> bool:
        return self.state == ALIVE

    @classmethod
    def of(cls, record: WorkerRecord, now: float, timeout: float) -> WorkerRow:
        state = record.state(now, timeout)
        if state == UNREADABLE:
            return cls(worker_id=record.worker_id, state=state, unreadable=record.unreadable or "")
        return cls(
            worker_id=record.worker_id, state=state, host=record.host, pid=record.pid, version=record.version,
            role=record.role, queues=", ".join(record.queues), threads=record.threads, beat=record.beat,
            beat_at=record.beat_at, started_at=record.started_at, heartbeat_at=record.heartbeat_at,
            running=tuple(record.running), running_count=record.running_count,
        )


@dataclass
class AliasSection:
    alias: str
    description: str
    problem: str | None = None
    #: Why no worker is listed although the backend answers.
    note: str | None = None
    workers: list[WorkerRow] = field(default_factory=list)

    @property
    def alive(self) -> int:
        return sum(w.state in (ALIVE, STOPPING) for w in self.workers)


@dataclass(frozen=True)
class TickRow:
    name: str
    last_tick: object
    holder: str
    next_run: object
    enabled: bool


def alias_sections(now: float | None = None) -> list[AliasSection]:
    """Every alias with its workers, within ``ops.status.CONNECT_TIMEOUT``."""
    report = health.check(counts=False, workers=True)
    now = time.time() if now is None else now
    timeout = conf.get("WORKER_TIMEOUT")
    sections = []
    for alias in report.aliases:
        section = AliasSection(alias.alias, alias.status.description)
        if not alias.reachable:
            section.problem = alias.status.problem or "unreachable"
        elif alias.workers_problem:
            section.problem = f"cannot read the worker registry: {alias.workers_problem}"
        elif alias.workers is not None and not alias.workers.reported:
            section.note = health.NOT_REPORTED.capitalize() + "."
        elif alias.workers is not None:
            section.workers = [WorkerRow.of(record, now, timeout) for record in alias.workers.workers]
        sections.append(section)
    return sections


def tick_rows() -> list[TickRow]:
    """Each schedule's last tick and the scheduler process that holds it."""
    rows = ScheduleState.objects.order_by("name")[:TICKS_SHOWN]
    return [TickRow(row.name, row.last_tick, row.last_tick_by, row.next_run, row.enabled) for row in rows]


class WorkerAdmin(OperationsAdmin):
    def operation_urls(self) -> list:
        return [
            path("", guarded(self, self.list_view, "view_worker"), name="symphra_django_worker_changelist"),
            path("stop/", guarded(self, self.stop_view, "stop_worker", mutates=True),
                 name="symphra_django_worker_stop"),
        ]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def list_view(self, request: HttpRequest) -> HttpResponse:
        sections = alias_sections()
        return render(
            self, request, "workers.html", "Workers",
            sections=sections, ticks=tick_rows(), can_stop=can(request, "stop_worker"),
            can_view_queue=can(request, "view_queue"),
            timeout=conf.get("WORKER_TIMEOUT"), states={"alive": ALIVE, "gone": GONE, "stopping": STOPPING},
        )

    def stop_view(self, request: HttpRequest) -> HttpResponse:
        alias, worker_id = request.POST.get("alias", ""), request.POST.get("worker", "")
        try:
            backend = status.backend_for(alias)
        except KeyError:
            raise Http404(f"no backend alias {shorten_name(repr(alias))}") from None
        try:
            asked = backend.request_worker_stop_sync(worker_id)
        except Exception as exc:  # noqa: BLE001 - the operator sees why
            messages.error(request, f"Could not ask {shorten_name(worker_id)} to stop: {status.problem_text(exc)}")
        else:
            if asked:
                logger.warning("%s asked worker %s of %s to stop accepting work", request.user,
                               shorten_name(worker_id), alias)
                messages.success(request, f"Worker {shorten_name(worker_id)} will stop accepting work at its "
                                          "next heartbeat, finish what it holds and exit.")
            else:
                messages.warning(request, f"No live worker {shorten_name(worker_id)} on {alias}.")
        return HttpResponseRedirect(reverse("admin:symphra_django_worker_changelist"))
