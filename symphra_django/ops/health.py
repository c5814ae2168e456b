"""Health of every backend alias: reachable, workers alive for each queue,
backlog not too old. Shared by the health views (``symphra_django.views``),
``manage.py taskstatus --check`` and the admin's Workers page.

Each alias is gathered in its own thread under one deadline
(:func:`~symphra_django.ops.status.gather_per_alias`): a broker that hangs
costs the others nothing and the caller waits at most the deadline. One
check is a health check, a count per queue and one read of the worker
registry per alias: cheap enough for a probe every few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from symphra_django import conf
from symphra_django.backends import QueueBackend
from symphra_django.backends.workers import WorkerListing, WorkerRecord, list_workers
from symphra_django.ops.status import BackendStatus, Progress, gather_status, per_alias, problem_text
from symphra_django.tasks.base import known_queues

#: Exit codes of ``taskstatus --check``, in the order they win when several
#: checks fail (0: every check passed).
EXIT_UNREACHABLE = 1
EXIT_NO_WORKERS = 3
EXIT_BACKLOG = 4

#: What the probes and the command say of a backend without the registry.
NOT_REPORTED = "workers are not reported by this backend"


@dataclass
class QueueHealth:
    queue: str
    #: Live workers consuming it; None when the backend does not report workers.
    workers: int | None
    oldest_due_age: float | None = None


@dataclass
class AliasHealth:
    """One alias: its status (as ``taskstatus`` shows it) and its workers."""

    status: BackendStatus
    #: The worker registry as read (None: the backend is down or did not answer).
    workers: WorkerListing | None = None
    #: Why the worker registry could not be read.
    workers_problem: str | None = None
    queues: list[QueueHealth] = field(default_factory=list)

    @property
    def alias(self) -> str:
        return self.status.alias

    @property
    def reachable(self) -> bool:
        return self.status.healthy


@dataclass
class HealthReport:
    aliases: list[AliasHealth]
    #: Oldest due task age, in seconds, above which a queue fails the check.
    max_due_age: float
    #: The worker timeout the liveness of workers was judged with.
    worker_timeout: float
    checked_at: float

    def problems(self) -> list[tuple[int, str]]:
        """Each failed check as (exit code, one line), worst first."""
        found: list[tuple[int, str]] = []
        for alias in self.aliases:
            if not alias.reachable:
                found.append((EXIT_UNREACHABLE, f"{alias.alias}: unreachable ({alias.status.problem})"))
                continue
            for queue in alias.queues:
                if queue.workers == 0:
                    found.append((EXIT_NO_WORKERS, f"{alias.alias}/{queue.queue}: no live worker"))
                age = queue.oldest_due_age
                if age is not None and age > self.max_due_age:
                    found.append((EXIT_BACKLOG, f"{alias.alias}/{queue.queue}: oldest due task waits "
                                                f"{age:.0f}s (threshold {self.max_due_age:g}s)"))
        return sorted(found, key=lambda item: item[0])

    @property
    def ok(self) -> bool:
        return not self.problems()

    @property
    def exit_code(self) -> int:
        problems = self.problems()
        return problems[0][0] if problems else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [text for _, text in self.problems()],
            "max_due_age": self.max_due_age,
            "backends": [
                {
                    "alias": a.alias,
                    "reachable": a.reachable,
                    "problem": a.status.problem,
                    "workers_reported": None if a.workers is None else a.workers.reported,
                    "workers_problem": a.workers_problem,
                    "workers_alive": None if a.workers is None or not a.workers.reported
                    else len(a.workers.alive(self.checked_at, self.worker_timeout)),
                    "queues": [
                        {"queue": q.queue, "workers": q.workers,
                         "oldest_due_age": None if q.oldest_due_age is None else round(q.oldest_due_age, 3)}
                        for q in a.queues
                    ],
                }
                for a in self.aliases
            ],
        }


def read_workers(backend: QueueBackend) -> tuple[WorkerListing | None, str | None]:
    """The worker registry of a reachable backend, or why it could not be read."""
    try:
        return list_workers(backend), None
    except Exception as exc:  # noqa: BLE001 - shown, never raised
        return None, problem_text(exc)


def alive_per_queue(listing: WorkerListing, queues: Iterable[str], now: float, timeout: float) -> dict[str, int]:
    """How many live workers consume each of ``queues``."""
    alive: list[WorkerRecord] = listing.alive(now, timeout)
    return {queue: sum(queue in worker.queues and worker.threads > 0 for worker in alive) for queue in queues}


def gather_alias(backend: QueueBackend, status: BackendStatus, progress: Progress, *,
                 counts: bool = True, workers: bool = True) -> AliasHealth:
    """Status, queue counts (``counts``) and workers (``workers``) of one alias; never raises."""
    health = AliasHealth(status)
    if counts:
        gather_status(backend, status, progress)
    else:
        try:
            progress.step = "connecting"
            backend.ensure_connected()
            progress.step = "checking health"
            status.healthy = backend.health_check_sync()
            status.problem = None if status.healthy else "health check failed"
        except Exception as exc:  # noqa: BLE001 - shown as the cause
            status.healthy, status.problem = False, problem_text(exc)
    if not status.healthy or not workers:
        return health
    progress.step = "reading the worker registry"
    health.workers, health.workers_problem = read_workers(backend)
    return health


def check(
    *,
    aliases: Iterable[str] | None = None,
    max_due_age: float | None = None,
    timeout: float | None = None,
    counts: bool = True,
    workers: bool = True,
    now: float | None = None,
) -> HealthReport:
    """The health of every alias (or of ``aliases``; KeyError for one not
    configured), within ``timeout`` seconds overall (default
    ``ops.status.CONNECT_TIMEOUT``). ``counts=False, workers=False`` only
    asks whether each backend answers (the readiness probe)."""

    def gather(backend: QueueBackend, status: BackendStatus, progress: Progress) -> AliasHealth:
        return gather_alias(backend, status, progress, counts=counts, workers=workers)

    gathered = per_alias(gather, aliases, timeout, name="symphra-health")
    timeout_setting = conf.get("WORKER_TIMEOUT")
    now = time.time() if now is None else now
    report = HealthReport([], conf.get("MAX_DUE_AGE") if max_due_age is None else max_due_age,
                          timeout_setting, now)
    for backend, status, result in gathered:
        outcome = AliasHealth(status) if result is None else result
        alias = outcome.alias
        if outcome.reachable and (counts or workers):
            assert backend is not None
            configured_queues = known_queues(default_queue=backend.default_queue, backend=alias)
            names = [q.queue for q in outcome.status.queues] if counts else sorted(configured_queues)
            live = (alive_per_queue(outcome.workers, names, now, timeout_setting)
                    if outcome.workers is not None and outcome.workers.reported else {})
            ages = {q.queue: q.oldest_due_age(now) for q in outcome.status.queues}
            outcome.queues = [
                QueueHealth(
                    queue=name,
                    # Held queues nobody declares may have no worker on purpose.
                    workers=live.get(name) if name in configured_queues else None,
                    oldest_due_age=ages.get(name),
                )
                for name in names
            ]
        report.aliases.append(outcome)
    return report
