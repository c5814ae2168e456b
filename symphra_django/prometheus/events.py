"""Task event metrics, fed by the signals of :mod:`symphra_django.signals`.

Labels are bounded, whatever the queues hold: ``task`` is the name of a
declared task, or ``"other"`` for a message naming none (an unknown or
forged name); ``queue`` is one of the first :data:`MAX_QUEUE_LABELS` queue
names seen, then ``"other"``; ``backend`` is an alias from the settings.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import Counter, Histogram

from symphra_django import signals

#: Label value of a task or queue beyond the bounds.
OTHER = "other"
#: Distinct queue label values per process; later names count as "other".
MAX_QUEUE_LABELS = 100

LABELS = ("backend", "queue", "task")
#: Seconds; from a no-op to the longest tasks worth a bucket.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
#: Seconds from due to start; what a healthy queue shows is in the first buckets.
LATENESS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

ENQUEUED = Counter("symphra_tasks_enqueued", "Tasks stored by enqueue or the beat (not counting an id already queued).",
                   LABELS)
STARTED = Counter("symphra_tasks_started", "Task runs started by a worker.", LABELS)
SUCCEEDED = Counter("symphra_tasks_succeeded", "Task runs that returned.", LABELS)
FAILED = Counter("symphra_tasks_failed", "Tasks sent to the failed store: failed for good, or could not run "
                 "(unknown task name).", LABELS)
RETRIED = Counter("symphra_tasks_retried", "Task runs that raised and were re-enqueued for another attempt.", LABELS)
LEASES_LOST = Counter("symphra_task_leases_lost", "Leases a worker found expired while still holding the task "
                      "(it ran past its lease, or the backend lost it): the task may run twice.", LABELS)
DURATION = Histogram("symphra_task_duration_seconds", "Run time of a task, successes and failures.", LABELS,
                     buckets=DURATION_BUCKETS)
LATENESS = Histogram("symphra_task_lateness_seconds", "Start time minus due time of a task run.", LABELS,
                     buckets=LATENESS_BUCKETS)

_queues: set[str] = set()
_queues_lock = threading.Lock()


def queue_label(queue: str) -> str:
    """``queue``, or ``"other"`` once :data:`MAX_QUEUE_LABELS` others were seen."""
    if queue in _queues:
        return queue
    with _queues_lock:
        if len(_queues) >= MAX_QUEUE_LABELS or not isinstance(queue, str) or len(queue) > 200:
            return OTHER
        _queues.add(queue)
    return queue


def labels(backend: str, queue: str, task: Any) -> tuple[str, str, str]:
    return backend, queue_label(queue), OTHER if task is None else task.name


def on_enqueued(backend: str, queue: str, task: Any, created: bool | None = True, **kwargs: Any) -> None:
    if created is not False:
        ENQUEUED.labels(*labels(backend, queue, task)).inc()


def on_started(backend: str, queue: str, task: Any, lateness: float, **kwargs: Any) -> None:
    key = labels(backend, queue, task)
    STARTED.labels(*key).inc()
    LATENESS.labels(*key).observe(lateness)


def on_succeeded(backend: str, queue: str, task: Any, duration: float, **kwargs: Any) -> None:
    key = labels(backend, queue, task)
    SUCCEEDED.labels(*key).inc()
    DURATION.labels(*key).observe(duration)


def on_retried(backend: str, queue: str, task: Any, duration: float, **kwargs: Any) -> None:
    key = labels(backend, queue, task)
    RETRIED.labels(*key).inc()
    DURATION.labels(*key).observe(duration)


def on_failed(backend: str, queue: str, task: Any, duration: float | None, **kwargs: Any) -> None:
    key = labels(backend, queue, task)
    FAILED.labels(*key).inc()
    if duration is not None:
        DURATION.labels(*key).observe(duration)


def on_lease_lost(backend: str, queue: str, task: Any, **kwargs: Any) -> None:
    LEASES_LOST.labels(*labels(backend, queue, task)).inc()


RECEIVERS = (
    (signals.task_enqueued, on_enqueued),
    (signals.task_started, on_started),
    (signals.task_succeeded, on_succeeded),
    (signals.task_retried, on_retried),
    (signals.task_failed, on_failed),
    (signals.task_lease_lost, on_lease_lost),
)


def connect() -> None:
    """Count the events from now on (idempotent: one receiver per signal)."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"symphra_django.prometheus.{receiver.__name__}")


def disconnect() -> None:
    """Stop counting (the counts so far stay)."""
    for signal, receiver in RECEIVERS:
        signal.disconnect(receiver, dispatch_uid=f"symphra_django.prometheus.{receiver.__name__}")
