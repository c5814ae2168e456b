"""Queue state read from the backends at scrape time.

Every configured alias is read in its own thread, all under one deadline
(``SYMPHRA["PROMETHEUS"]["SCRAPE_TIMEOUT"]``), as the admin and
``taskstatus`` read them (:mod:`symphra_django.ops.status`): a broker that is down or hangs makes its alias
report ``symphra_backend_up 0`` and no counts, and costs the scrape at most
the deadline. Queues that are neither configured nor declared (a name some
other program stored) are summed under ``queue="other"``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from symphra_django.backends.base import QueueBackend
from symphra_django.messages import TASK_STATES
from symphra_django.ops.status import BackendStatus
from symphra_django.prometheus.events import OTHER


class QueueCollector(Collector):
    """``symphra_queue_tasks``, ``symphra_queue_oldest_due_age_seconds``,
    ``symphra_backend_up`` and ``symphra_workers``, per alias."""

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout

    def describe(self) -> list[Any]:
        # Collected on demand only: nothing to run when registered.
        return []

    def collect(self) -> Iterator[Any]:
        from symphra_django import conf
        from symphra_django.backends import backends
        from symphra_django.ops.status import TimedOut, gather_per_alias, gather_status, new_status

        timeout = conf.get("PROMETHEUS")["SCRAPE_TIMEOUT"] if self.timeout is None else self.timeout
        up = GaugeMetricFamily("symphra_backend_up", "1 if the backend answered its health check within the "
                               "scrape deadline, else 0.", labels=["backend"])
        tasks = GaugeMetricFamily("symphra_queue_tasks", "Tasks in a queue by state (ready: due now; delayed: "
                                  "due later; in_flight: leased to a worker; failed: in the failed store).",
                                  labels=["backend", "queue", "state"])
        oldest = GaugeMetricFamily("symphra_queue_oldest_due_age_seconds", "Seconds the oldest due task of a "
                                   "queue has been waiting (0 when none is due).", labels=["backend", "queue"])
        workers = GaugeMetricFamily("symphra_workers", "Worker processes alive on a backend (backends that "
                                    "register their workers).", labels=["backend"])

        def work(alias: str, progress: Any) -> tuple[BackendStatus, int | None]:
            backend, status = new_status(alias)
            if backend is None:
                return status, None
            gather_status(backend, status, progress)
            progress.step = "counting workers"
            return status, worker_count(backend) if status.healthy else None

        aliases = backends.aliases()
        gathered = gather_per_alias(work, aliases, timeout, name="symphra-metrics")
        for alias in aliases:
            outcome = gathered[alias]
            if isinstance(outcome, (TimedOut, Exception)):
                up.add_metric([alias], 0.0)
                continue
            status, count = outcome
            up.add_metric([alias], 1.0 if status.healthy else 0.0)
            for label, (totals, age) in sorted(queue_counts(status).items()):
                for state, value in totals.items():
                    tasks.add_metric([alias, label, state], value)
                oldest.add_metric([alias, label], age)
            if count is not None:
                workers.add_metric([alias], float(count))
        yield up
        yield tasks
        yield oldest
        yield workers


def queue_counts(status: BackendStatus) -> dict[str, tuple[dict[str, float], float]]:
    """Per queue label: the counts by state and the oldest due age. Queues
    neither configured nor declared are summed under ``"other"``."""
    from symphra_django.backends import backends
    from symphra_django.tasks.base import known_queues

    allowed = known_queues(default_queue=backends[status.alias].default_queue)
    out: dict[str, tuple[dict[str, float], float]] = {}
    for queue in status.queues:
        if queue.stats is None:
            continue
        label = queue.queue if queue.queue in allowed else OTHER
        totals, age = out.get(label) or (dict.fromkeys(TASK_STATES, 0.0), 0.0)
        for state in TASK_STATES:
            totals[state] += getattr(queue.stats, state)
        out[label] = (totals, max(age, queue.oldest_due_age() or 0.0))
    return out


def worker_count(backend: QueueBackend) -> int | None:
    """Live worker processes of a backend (heard from within
    ``SYMPHRA["WORKER_TIMEOUT"]``), or None where it keeps no registry of
    its workers (the metric is then left out for it)."""
    from symphra_django import conf
    from symphra_django.backends.workers import list_workers

    try:
        listing = list_workers(backend)
    except Exception:  # noqa: BLE001 - the backend is down: a scrape shows what it can
        return None
    if not listing.reported:
        return None
    return len(listing.alive(time.time(), conf.get("WORKER_TIMEOUT")))


class Combined(CollectorRegistry):
    """A registry serving the metrics of several collectors (or registries)."""

    def __init__(self, *parts: Any) -> None:
        super().__init__(auto_describe=False)
        self.parts = parts

    def collect(self) -> Iterator[Any]:
        for part in self.parts:
            yield from part.collect()
