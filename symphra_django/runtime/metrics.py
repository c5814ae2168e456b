"""In-process counters per task: runs, successes, failures, retries, durations."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class TaskMetrics:
    runs: int = 0
    successes: int = 0
    #: Failed for good: runs that failed with no retry left, and tasks that
    #: could not run at all (``unrunnable``), as the failed store counts them.
    failures: int = 0
    retries: int = 0
    #: Sent to the failed store without running: an unknown task name, or a
    #: stored payload that could not be read.
    unrunnable: int = 0
    total_duration: float = 0.0
    max_duration: float = 0.0

    @property
    def mean_duration(self) -> float:
        return self.total_duration / self.runs if self.runs else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean_duration": self.mean_duration}


class Metrics:
    """Thread-safe counters, one ``TaskMetrics`` per task name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskMetrics] = {}

    def record(self, name: str, *, ok: bool, duration: float, retried: bool = False) -> None:
        with self._lock:
            m = self._tasks.get(name)
            if m is None:
                m = self._tasks[name] = TaskMetrics()
            m.runs += 1
            m.total_duration += duration
            m.max_duration = max(m.max_duration, duration)
            if ok:
                m.successes += 1
            elif retried:
                m.retries += 1
            else:
                m.failures += 1

    def record_unrunnable(self, name: str, count: int = 1) -> None:
        """``count`` tasks named ``name`` went to the failed store without running."""
        if count <= 0:
            return
        with self._lock:
            m = self._tasks.get(name)
            if m is None:
                m = self._tasks[name] = TaskMetrics()
            m.failures += count
            m.unrunnable += count

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: m.to_dict() for name, m in self._tasks.items()}

    def totals(self) -> TaskMetrics:
        total = TaskMetrics()
        with self._lock:
            for m in self._tasks.values():
                total.runs += m.runs
                total.successes += m.successes
                total.failures += m.failures
                total.retries += m.retries
                total.unrunnable += m.unrunnable
                total.total_duration += m.total_duration
                total.max_duration = max(total.max_duration, m.max_duration)
        return total
