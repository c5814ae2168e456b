"""The Scheduler: beat plus a worker pool around one backend, with a lifecycle.

Usable from code, as in symphra-scheduler::

    scheduler = Scheduler()                 # memory backend
    scheduler.register_task(send_report, queue="reports")
    scheduler.start()
    ...
    scheduler.stop()

and by ``manage.py runscheduler``, which adds signals, processes and burst mode.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from symphra_django import conf
from symphra_django.backends import MemoryBackend, QueueBackend, backends
from symphra_django.backends.base import NotSupported
from symphra_django.exceptions import BackendUnavailable
from symphra_django.installation import require_migrated
from symphra_django.messages import CORRUPT_NAME, TaskMessage
from symphra_django.runtime.beat import Beat
from symphra_django.runtime.heartbeat import Heartbeat
from symphra_django.runtime.housekeeping import Housekeeper
from symphra_django.runtime.metrics import Metrics
from symphra_django.runtime.stored import DatabaseSchedules
from symphra_django.runtime.throughput import ThroughputRecorder
from symphra_django.runtime.ticks import DatabaseLedger, Ledger, MemoryLedger
from symphra_django.runtime.worker import WorkerPool, worker_id
from symphra_django.tasks.base import Task, declare, known_queues
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.tasks.registry import registry as default_registry

logger = logging.getLogger("symphra_django.scheduler")

#: Seconds a burst waits, beyond its own lease, for tasks leased by another
#: worker: time for the backend to notice that a dead worker's lease ran out
#: and for this process to claim the task.
HELD_GRACE = 5.0
#: Seconds the last throughput counts may take to reach the database at
#: stop, even after the workers used up the shutdown timeout.
THROUGHPUT_STOP_GRACE = 2.0


def connect_backend(backend: QueueBackend, retries: int | None = None) -> None:
    """Connect at start, retrying with backoff; BackendUnavailable after ``retries``.

    The only place that retries a first connection: an operation's own
    connect (views, the admin) is one bounded attempt.
    """
    retries = conf.get("CONNECT_RETRIES") if retries is None else retries
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            backend.ensure_connected()
            if backend.health_check_sync():
                if attempt:
                    logger.warning("%s is reachable now", backend.describe())
                return
            problem = "health check failed"
        except ImproperlyConfigured:
            raise  # a setup to fix (tables not migrated, a package missing): retrying cannot help
        except Exception as exc:  # noqa: BLE001 - reported below, then retried
            problem = f"{type(exc).__name__}: {exc}"
        if attempt == retries:
            break
        logger.warning("%s is unreachable (%s); retry %d/%d in %.1fs",
                       backend.describe(), problem, attempt + 1, retries, delay)
        time.sleep(delay)
        delay = min(delay * 2, 10.0)
    raise BackendUnavailable(f"{backend.describe()} is unreachable after {retries + 1} attempt(s): {problem}")


class Scheduler:
    """Runs periodic ticks (beat) and workers against one queue backend.

    ``manage.py runscheduler`` runs one per process; scripts and tests can
    make their own (see docs/scheduler.md):

        scheduler = Scheduler("default")
        scheduler.start()
        try:
            ...
        finally:
            scheduler.stop()

    Args:
        backend: the alias of a backend in ``SYMPHRA["BACKENDS"]`` (then
            ``task.enqueue()`` and this scheduler use the same backend), a
            ``QueueBackend`` instance (the scheduler runs what is in it), or
            None for a new ``MemoryBackend`` only this scheduler sees.
        queues: the queues its workers consume; default: every known queue
            (``SYMPHRA["QUEUES"]``, the queues tasks declare, the backend's
            default queue).
        workers: worker threads (default ``SYMPHRA["WORKERS"]``).
        batch_size: tasks claimed per round trip (default ``SYMPHRA["BATCH_SIZE"]``).
        lease_seconds: the lease of a claimed task (default ``SYMPHRA["LEASE_SECONDS"]``).
        poll_interval: longest sleep of an idle worker (default ``SYMPHRA["POLL_INTERVAL"]``).
        shutdown_timeout: seconds running tasks may finish in ``stop()``
            (default ``SYMPHRA["SHUTDOWN_TIMEOUT"]``).
        beat: run the periodic ticks of the declared periodic tasks.
        work: run tasks (False: enqueue ticks only, like ``--beat-only``).
        registry: the declared tasks it knows (default: the project's, where
            ``@task`` and the schedule decorators declare).
        ledger: where ticks are recorded so that each runs once (default:
            the database when the backend is shared between processes,
            memory otherwise).
        stored_schedules: whether the beat also runs the schedules kept in
            the database (``PeriodicSchedule``); by default it does when the
            tick ledger is in the database, i.e. for every backend but memory
            (``runscheduler`` always does).
        role: what the worker registry says this process is: ``"main"``, or
            ``"child"`` for the extra processes of ``--processes``.
        heartbeat: register this process in the backend's worker registry
            and save its heartbeat (``SYMPHRA["HEARTBEAT_INTERVAL"]``).
    """

    def __init__(
        self,
        backend: QueueBackend | str | None = None,
        *,
        queues: Sequence[str] | None = None,
        workers: int | None = None,
        batch_size: int | None = None,
        lease_seconds: float | None = None,
        poll_interval: float | None = None,
        shutdown_timeout: float | None = None,
        beat: bool = True,
        work: bool = True,
        registry: TaskRegistry | None = None,
        ledger: Ledger | None = None,
        stored_schedules: bool | None = None,
        role: str = "main",
        heartbeat: bool = True,
    ) -> None:
        self.alias: str | None = None
        if backend is None:
            backend = MemoryBackend(alias="scheduler")
        elif isinstance(backend, str):
            self.alias = backend
            backend = backends[backend]
        self.backend = backend
        self.registry = default_registry if registry is None else registry
        self.queues = list(queues) if queues else None
        self.workers = workers or conf.get("WORKERS")
        self.batch_size = batch_size or conf.get("BATCH_SIZE")
        self.lease_seconds = lease_seconds or conf.get("LEASE_SECONDS")
        self.poll_interval = poll_interval or conf.get("POLL_INTERVAL")
        self.shutdown_timeout = conf.get("SHUTDOWN_TIMEOUT") if shutdown_timeout is None else shutdown_timeout
        self.beat_enabled = beat
        self.work_enabled = work
        # Ticks need deduplicating across processes only if other processes
        # can see this backend's tasks (and run or enqueue them).
        self.ledger = ledger or (DatabaseLedger() if backend.shared else MemoryLedger())
        # The beat runs the schedules kept in the database (PeriodicSchedule)
        # too; by default wherever its ledger is in the database.
        self.stored_schedules = (
            isinstance(self.ledger, DatabaseLedger) if stored_schedules is None else stored_schedules
        )
        self.metrics = Metrics()
        # Per-minute counts for the admin's chart live in the database too.
        self.throughput = ThroughputRecorder(backend.alias) if isinstance(self.ledger, DatabaseLedger) else None
        self.pool: WorkerPool | None = None
        self.beat: Beat | None = None
        self.housekeeper: Housekeeper | None = None
        self.started_at: float | None = None
        self._stopped = threading.Event()
        self._unreadable_at_start = 0
        self.role = role
        self.heartbeat_enabled = heartbeat
        self.heartbeat: Heartbeat | None = None
        #: Set when a stop was requested through the worker registry (the
        #: admin's Workers page): ``run_until`` then stops as on SIGTERM.
        self.stop_requested = threading.Event()
        self._requested: threading.Event | None = None

    # -- task registration, as in symphra-scheduler --------------------------------------------

    def register_task(self, func: Callable[..., Any] | Task, **options: Any) -> Task:
        """Declare ``func`` (or re-register a Task) with ``@task``'s options
        (``name=``, ``queue=``, ``priority=``, ``retry_policy=``, ``timeout=``,
        ``backend=``, and ``schedule=`` with a schedule for a periodic task) in
        this scheduler's registry; returns the ``Task``, whose ``enqueue()``
        queues calls of it."""
        return declare(func, target=self.registry, **options)

    def get_task(self, name: str) -> Task | None:
        """The declared task of that name, or None."""
        return self.registry.get(name)

    def unregister_task(self, name: str) -> Task | None:
        """Forget a task; returns it, or None if there was none. Messages of
        that name still queued then fail as unknown tasks."""
        return self.registry.unregister(name)

    # -- lifecycle ----------------------------------------------------------------------

    def queue_names(self) -> list[str]:
        """The queues the workers consume: ``queues`` if given, else every known queue."""
        if self.queues:
            return self.queues
        return sorted(known_queues(self.registry, default_queue=self.backend.default_queue))

    def backend_for(self, task: Task) -> QueueBackend:
        """Where the beat enqueues ``task``'s ticks: this scheduler's backend,
        or the alias the task names when the scheduler was given an alias."""
        if self.alias is None or task.backend == self.alias:
            return self.backend
        return backends[task.backend]

    def connect(self) -> None:
        """Connect the backend (retrying, see :func:`connect_backend`) and make
        sure the tables of the tick ledger are there: NotMigrated, naming
        ``migrate``, rather than a database error from every beat tick."""
        connect_backend(self.backend)
        if isinstance(self.ledger, DatabaseLedger):
            require_migrated(self.ledger.database)

    def start(self) -> None:
        """Connect (retrying with backoff, ``SYMPHRA["CONNECT_RETRIES"]``), then
        start the beat and the workers in background threads; returns at once.

        Raises:
            BackendUnavailable: the backend could not be reached.
            NotMigrated: the tick ledger's tables are missing (run ``manage.py migrate``).
        """
        self.connect()
        self.started_at = time.time()
        self._unreadable_at_start = self.backend.unreadable_filed
        self._stopped.clear()
        if self.throughput is not None:
            self.throughput.start()
        self.heartbeat = self._make_heartbeat() if self.heartbeat_enabled else None
        if self.work_enabled:
            self.pool = WorkerPool(
                self.backend,
                self.queue_names(),
                concurrency=self.workers,
                batch_size=self.batch_size,
                lease_seconds=self.lease_seconds,
                poll_interval=self.poll_interval,
                registry=self.registry,
                metrics=self.metrics,
                on_finished=self._record_outcome,
                housekeeping=self.heartbeat.tick if self.heartbeat else None,
                housekeeping_interval=self.heartbeat.interval if self.heartbeat else None,
            )
            self.pool.start()
        if self.beat_enabled and isinstance(self.ledger, DatabaseLedger):
            self.housekeeper = Housekeeper()
            self.housekeeper.start()
        if self.beat_enabled:
            self.beat = self._make_beat(on_enqueued=lambda message: self.pool.wake() if self.pool else None)
            if self.pool is None and self.heartbeat is not None:
                self.beat.on_loop = self.heartbeat.tick
            self.beat.start()

    def _make_beat(self, **options: Any) -> Beat:
        return Beat(self.registry, self.backend_for, self.ledger, grace=conf.get("MISFIRE_GRACE_TIME"),
                    stored=DatabaseSchedules() if self.stored_schedules else None, holder=worker_id(),
                    **options)

    def _make_heartbeat(self) -> Heartbeat:
        heartbeat = Heartbeat(
            self.backend,
            queues=self.queue_names() if self.work_enabled else [],
            threads=self.workers if self.work_enabled else 0,
            beat=self.beat_enabled,
            role=self.role,
            running=lambda: self.pool.running() if self.pool is not None else ([], 0),
            beat_at=lambda: self.beat.last_loop_at if self.beat is not None else None,
            on_stop=self.request_stop,
        )
        heartbeat.start()
        return heartbeat

    def request_stop(self) -> None:
        """Stop accepting work and shut down as on SIGTERM (``run_until``
        returns); what the worker registry's stop request does."""
        self.stop_requested.set()
        if self._requested is not None:
            self._requested.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop beat, let running tasks finish up to ``timeout`` (default: the
        shutdown timeout), hand back unstarted work. True if all finished."""
        timeout = self.shutdown_timeout if timeout is None else timeout
        # One deadline for the whole stop: a beat slow to finish its pass
        # (an enqueue waiting on a backend) leaves the workers what is left
        # of the timeout, not a second one, so the process exits in time
        # for its supervisor (systemd's, Kubernetes' grace period).
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        if self.housekeeper is not None:
            self.housekeeper.stop()
        if self.beat is not None:
            self.beat.stop(left())
        finished = self.pool.stop(left()) if self.pool is not None else True
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.pool is not None:
            # Stored entries the workers' claims could not read went to the
            # failed store too: the totals count them with the failures.
            filed = self.backend.unreadable_filed - self._unreadable_at_start
            self._unreadable_at_start = self.backend.unreadable_filed
            self.metrics.record_unrunnable(CORRUPT_NAME, filed)
        if self.throughput is not None:
            self.throughput.stop(max(THROUGHPUT_STOP_GRACE, left()))
        self._stopped.set()
        return finished

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the scheduler is stopped (True) or ``timeout`` seconds pass (False)."""
        return self._stopped.wait(timeout)

    def run(self, install_signals: bool = True) -> bool:
        """Start, block until SIGTERM/SIGINT, stop gracefully. A second signal
        exits at once (leases then expire and the work is redone)."""
        requested = threading.Event()
        if install_signals:
            install_signal_handlers(requested)
        return self.run_until(requested)

    def run_until(self, requested: threading.Event) -> bool:
        """Start, block until ``requested`` is set (or a stop is requested
        through the worker registry), then stop gracefully."""
        self._requested = requested
        self.start()
        while not requested.wait(0.5):
            pass
        logger.info("shutting down: finishing running tasks (up to %.0fs)", self.shutdown_timeout)
        finished = self.stop()
        if not finished:
            logger.warning("some tasks were still running after %.0fs; their leases were handed back",
                           self.shutdown_timeout)
        return finished

    def run_burst(self, settle: float = 0.2, held_wait: float | None = None) -> bool:
        """Run what is due (one beat pass included), then stop once the work
        is done: no queue holds a task due now or in flight, and no worker of
        this process holds one. Returns True then.

        "Due" is whatever the backend counts as ready, entries written by
        other programs included: an unreadable one is claimed and filed in
        the failed store like any other. Tasks in flight under another
        worker's lease are waited for: if that worker died, its lease runs
        out and the task comes back here and runs. A lease still held after
        ``held_wait`` seconds without a change in the counts (default: this
        scheduler's lease plus :data:`HELD_GRACE`) is being renewed, so its
        worker is alive and will finish it: the burst then logs how many
        tasks that is and returns False. Delayed tasks (retries, future
        ticks) do not keep it running.
        """
        held_wait = self.lease_seconds + HELD_GRACE if held_wait is None else held_wait
        self.connect()
        if self.beat_enabled:
            self._make_beat().run_pending()
        beat, self.beat_enabled = self.beat_enabled, False
        try:
            self.start()
        finally:
            self.beat_enabled = beat
        assert self.pool is not None
        quiet_since: float | None = None
        waiting: tuple[float, tuple[int, int]] | None = None
        done = True
        while True:
            time.sleep(0.02)
            if not self.pool.idle:
                quiet_since = waiting = None
                continue
            counts = ready, held = self._pending_counts()
            now = time.monotonic()
            if ready:
                quiet_since = waiting = None
            elif held:
                # Nothing to do here, but tasks are leased elsewhere: wait
                # while the counts move, or for one lease to run out.
                quiet_since = None
                if waiting is None or waiting[1] != counts:
                    waiting = (now, counts)
                elif now - waiting[0] >= held_wait:
                    logger.warning(
                        "burst: %d task(s) still in flight after %.0fs under leases other workers "
                        "keep renewing; those workers are running them. Exiting.", held, held_wait,
                    )
                    done = False
                    break
            else:
                waiting = None
                quiet_since = quiet_since or now
                if now - quiet_since >= settle:
                    break
        self.stop()
        return done

    def _anything_due(self) -> bool:
        """Whether a queue holds a task due now (stored by anyone)."""
        return self._pending_counts()[0] > 0

    def _pending_counts(self) -> tuple[int, int]:
        """Tasks due now, and tasks in flight, over this scheduler's queues.

        Read through ``get_stats``; a backend without it gives its queue
        size, counted as due (it cannot tell the two apart).
        """
        ready = held = 0
        for queue in self.queue_names():
            try:
                stats = self.backend.get_stats_sync(queue)
            except NotSupported:
                ready += self.backend.get_queue_size_sync(queue)
            else:
                ready += stats.ready
                held += stats.in_flight
        return ready, held

    def _record_outcome(self, message: TaskMessage, ok: bool, error: str | None, duration: float) -> None:
        if self.throughput is not None:
            self.throughput.record(message.queue, ok)
        schedule = message.meta.get("schedule")
        if schedule:
            self.ledger.record_outcome(schedule, ok=ok, error=error, duration=duration, at=time.time())

    # -- stats ---------------------------------------------------------------------------

    def get_stats(self) -> dict[str, Any]:
        """A snapshot for monitoring: ``backend`` (its description),
        ``running``, ``uptime`` (seconds), ``queues`` (each queue's counts),
        ``tasks`` (outcomes per task), ``totals`` and ``periodic_enqueued``."""
        queues = {}
        for queue in self.queue_names():
            try:
                queues[queue] = self.backend.get_stats_sync(queue).to_dict()
            except NotSupported:
                queues[queue] = {"size": self.backend.get_queue_size_sync(queue)}
        return {
            "backend": self.backend.describe(),
            "running": self.started_at is not None and not self._stopped.is_set(),
            "uptime": time.time() - self.started_at if self.started_at else 0.0,
            "queues": queues,
            "tasks": self.metrics.snapshot(),
            "totals": self.metrics.totals().to_dict(),
            "periodic_enqueued": self.beat.enqueued if self.beat else 0,
        }


def install_signal_handlers(
    requested: threading.Event, signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT)
) -> None:
    """First of ``signals`` (SIGTERM, SIGINT) sets ``requested``; a second one exits at once."""

    def handle(signum: int, frame: Any) -> None:
        if requested.is_set():
            logger.warning("second signal: exiting now; unfinished leases will expire and be redone")
            import os

            os._exit(1)
        logger.info("received %s", signal.Signals(signum).name)
        requested.set()

    for sig in signals:
        signal.signal(sig, handle)
