"""Housekeeping the scheduler does in the background: pruning old rows.

Run by the ``runscheduler`` process that runs the beat (one per deployment is
enough; several only repeat cheap deletes), every ``INTERVAL`` seconds:

- finished tasks of the database backend older than ``HISTORY_RETENTION``;
- results of Django tasks older than ``HISTORY_RETENTION``;
- per-minute throughput counts older than a day.

Each job deletes in small batches and never fails the scheduler.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import close_old_connections

logger = logging.getLogger("symphra_django.maintenance")

INTERVAL = 600.0


def _prune_history() -> int:
    from symphra_django.backends.database.history import prune_history

    return prune_history()


def _prune_results() -> int:
    from symphra_django.django_tasks.retention import prune_results

    return prune_results()


def _prune_throughput() -> int:
    from symphra_django.runtime.throughput import prune

    return prune()


JOBS: dict[str, Callable[[], int]] = {
    "task history": _prune_history,
    "Django task results": _prune_results,
    "throughput counts": _prune_throughput,
}


def run_jobs() -> None:
    for what, job in JOBS.items():
        try:
            deleted = job()
        except Exception:
            logger.warning("could not prune %s; will try again later", what, exc_info=True)
            continue
        finally:
            close_old_connections()
        if deleted:
            logger.info("pruned %d row(s) of %s", deleted, what)


class Housekeeper:
    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="symphra-housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _loop(self) -> None:
        # A short wait first, so that start-up work goes first.
        while not self._stopping.wait(min(30.0, self.interval)):
            run_jobs()
            if self._stopping.wait(self.interval):
                return
