"""A scheduler process's entry in its backend's worker registry.

:class:`Heartbeat` registers the process when it starts (host, pid, version,
backend alias, queues, threads, start time), saves its record again at most
once per ``SYMPHRA["HEARTBEAT_INTERVAL"]`` (with the tasks it is running at
that moment), and removes it when the process stops cleanly. It runs no
thread of its own: the worker pool's lease keeper calls :meth:`Heartbeat.tick`
(the beat's loop, in a beat-only process), so the cost is one small write
per interval, whatever the throughput.

A backend that does not keep the registry (``reports_workers`` False) is left
alone. A failed write is logged once and retried at the next interval: the
registry is for watching, never a reason to stop working. When the backend
answers that someone asked this worker to stop accepting work (the admin's
Workers page), ``on_stop`` is called once: the scheduler then shuts down as
on SIGTERM.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence

from symphra_django import __version__, conf
from symphra_django.backends.base import QueueBackend
from symphra_django.backends.workers import GONE_KEPT, RUNNING_SHOWN, RunningTask, WorkerRecord
from symphra_django.runtime.worker import worker_id

logger = logging.getLogger("symphra_django.scheduler")

#: What a heartbeat reads about the work in progress: the tasks running now
#: (at most RUNNING_SHOWN of them) and how many there are.
RunningReader = Callable[[], tuple[list[RunningTask], int]]


class Heartbeat:
    """Saves one process's :class:`WorkerRecord` in ``backend``.

    Args:
        backend: where the record is kept (its ``save_worker``).
        queues, threads, beat, role: what the record says about the process.
        running: the tasks running now (see :data:`RunningReader`).
        beat_at: when the beat last looked for due ticks (None: no beat).
        on_stop: called once when a stop is requested through the registry.
        interval: seconds between two writes (default
            ``SYMPHRA["HEARTBEAT_INTERVAL"]``).
        clock: epoch seconds (tests pass one they move).
    """

    def __init__(
        self,
        backend: QueueBackend,
        *,
        queues: Sequence[str],
        threads: int,
        beat: bool,
        role: str = "main",
        running: RunningReader | None = None,
        beat_at: Callable[[], float | None] | None = None,
        on_stop: Callable[[], None] | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.interval = conf.get("HEARTBEAT_INTERVAL") if interval is None else interval
        # Kept past the timeout so that readers show the process as gone for a while.
        self.ttl = conf.get("WORKER_TIMEOUT") + GONE_KEPT
        self.clock = clock
        self.record = WorkerRecord(
            worker_id=worker_id(),
            host=socket.gethostname(),
            pid=os.getpid(),
            version=__version__,
            backend=backend.alias,
            queues=list(queues),
            threads=threads,
            role=role,
            beat=beat,
        )
        self._running = running
        self._beat_at = beat_at
        self._on_stop = on_stop
        self._next = 0.0
        self._lock = threading.Lock()
        self._failing = False
        self._stop_seen = False
        self.enabled = backend.reports_workers

    @property
    def worker_id(self) -> str:
        return self.record.worker_id

    def start(self) -> None:
        """Register (a fresh record: clears an old stop request of the same id)."""
        now = self.clock()
        self.record.started_at = now
        self._write(now, fresh=True)

    def tick(self, now: float | None = None) -> None:
        """Save the record if the interval has passed since the last write."""
        now = self.clock() if now is None else now
        if not self.enabled or now < self._next:
            return
        self._write(now)

    def stop(self) -> None:
        """Remove the record: the process stopped cleanly."""
        if not self.enabled:
            return
        try:
            self.backend.delete_worker_sync(self.worker_id)
        except Exception:  # the record then expires on its own
            logger.debug("could not remove worker %s from %s", self.worker_id, self.backend.describe(),
                         exc_info=True)

    def _write(self, now: float, *, fresh: bool = False) -> None:
        if not self.enabled or not self._lock.acquire(blocking=False):
            return  # another thread is writing it now
        try:
            self._next = now + self.interval
            record = self.record
            record.heartbeat_at = now
            if self._running is not None:
                running, count = self._running()
                record.running, record.running_count = running[:RUNNING_SHOWN], count
            if self._beat_at is not None:
                record.beat_at = self._beat_at()
            try:
                stop = self.backend.save_worker_sync(self.worker_id, record.to_json(), self.ttl, fresh=fresh)
            except NotImplementedError:
                self.enabled = False
                return
            except Exception:  # logged once, retried next interval
                if not self._failing:
                    logger.warning("could not save the heartbeat of worker %s in %s; retrying every %.0fs",
                                   self.worker_id, self.backend.describe(), self.interval, exc_info=True)
                self._failing = True
                return
            if self._failing:
                logger.info("heartbeats of worker %s are saved again", self.worker_id)
                self._failing = False
            if stop and not self._stop_seen:
                self._stop_seen = True
                logger.warning("worker %s was asked to stop accepting work (Workers page): shutting down",
                               self.worker_id)
                if self._on_stop is not None:
                    self._on_stop()
        finally:
            self._lock.release()
