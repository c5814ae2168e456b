"""Workers: claim a batch → run each task → acknowledge, retry or fail.

A ``WorkerPool`` runs ``concurrency`` threads against one backend and a list
of queues. Each thread claims up to ``batch_size`` due tasks per round trip
and runs them one by one. Each success is handed to the pool's
:class:`~symphra_django.runtime.acknowledger.Acknowledger` as it finishes,
which acknowledges what finished in the last few milliseconds in one call: a
killed worker's finished tasks are not run again. A lease keeper thread renews
the leases of every claimed task not yet acknowledged, so long tasks are not
handed to another worker. On ``stop`` the threads stop claiming, finish the
task they are running (up to the shutdown timeout), hand back the claimed
tasks they have not started, at once, and pending acknowledgements are sent.

Whatever a task raises, ``BaseException`` included (``KeyboardInterrupt``,
``SystemExit``, ``GeneratorExit``, ``asyncio.CancelledError``), is that
task's failure: the thread records it and goes on to the next task. Signals
sent to ``runscheduler`` never reach these threads (Python delivers them to
the main thread, whose handlers stop the pool), so a ``KeyboardInterrupt``
seen here was raised by task code.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback as tb
from collections.abc import Callable, Sequence
from typing import Any

from symphra_django.backends.base import QueueBackend
from symphra_django.backends.workers import RunningTask
from symphra_django.messages import TaskMessage
from symphra_django.runtime.acknowledger import Acknowledger
from symphra_django.runtime.doorbell import Doorbell
from symphra_django.runtime.engagement import Engagement
from symphra_django.runtime.metrics import Metrics
from symphra_django.runtime.runner import Runner
from symphra_django.runtime.upkeep import Upkeep
from symphra_django.signals import task_failed, task_lease_lost, task_retried, task_started, task_succeeded
from symphra_django.tasks.base import Task
from symphra_django.tasks.context import reset_current, set_current
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.tasks.registry import registry as default_registry
from symphra_django.utils.text import shorten_error, shorten_name, shorten_traceback

logger = logging.getLogger("symphra_django.worker")

#: After the pool last found work, for this many seconds one thread polls
#: every BUSY_POLL seconds, for backends that cannot wake workers
#: (``wakes_workers``): latency stays low under steady load, and an idle pool
#: still backs off to POLL_INTERVAL.
BUSY_WINDOW = 1.0
BUSY_POLL = 0.001

#: Called after each run: (message, ok, error text or None, duration).
FinishHook = Callable[[TaskMessage, bool, str | None, float], None]

#: Lease-loss warnings name this many task ids; the rest are counted.
LOST_LEASES_SHOWN = 5
#: At shutdown, pending acknowledgements get at least this long to be sent,
#: even when the running tasks used up the shutdown timeout.
ACK_FLUSH_GRACE = 5.0


def exception_text(exc: BaseException) -> str:
    """``"ValueError: reason"``, bounded (see ``utils.text``), for logs and the
    failed store; an exception whose ``str()`` fails is named by its type."""
    try:
        detail = str(exc)
    except Exception:  # noqa: BLE001 - a task's exception may be broken in any way
        detail = "<str() of the exception failed>"
    return shorten_error(f"{type(exc).__name__}: {detail}")


def unknown_task_error(name: str) -> str:
    """Why a message naming no declared task fails, and where to look."""
    return (
        f"unknown task {shorten_name(repr(name))}: not declared in this worker, which knows the tasks "
        "in the tasks.py of each app in INSTALLED_APPS (is the app that declares it there?)"
    )


def log_fields(message: TaskMessage, duration: float | None = None) -> dict[str, Any]:
    """The ``extra`` fields of a task's log lines: ``task_id``, ``task_name``,
    ``queue``, ``attempt`` (deliveries so far, from 1) and ``duration``
    (seconds, None before or without a run), bounded in size."""
    return {
        "task_id": shorten_name(message.id),
        "task_name": shorten_name(message.name),
        "queue": shorten_name(message.queue),
        "attempt": message.attempts,
        "duration": duration,
    }


def worker_id() -> str:
    """``host:pid`` of this process."""
    if _worker_ids:
        return _worker_ids[0]
    # Once per process: gethostname() and getpid() are system calls, too
    # costly to repeat per task (docs/performance.md).
    _worker_ids.append(f"{socket.gethostname()}:{os.getpid()}")
    return _worker_ids[0]


#: This process's worker id once known; a forked child forgets its parent's.
_worker_ids: list[str] = []
os.register_at_fork(after_in_child=_worker_ids.clear)


class WorkerPool:
    def __init__(
        self,
        backend: QueueBackend,
        queues: Sequence[str],
        *,
        concurrency: int = 4,
        batch_size: int = 32,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.5,
        registry: TaskRegistry | None = None,
        metrics: Metrics | None = None,
        on_finished: FinishHook | None = None,
        housekeeping: Callable[[], None] | None = None,
        housekeeping_interval: float | None = None,
    ) -> None:
        self.backend = backend
        self.queues = list(queues) or [backend.default_queue]
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.registry = default_registry if registry is None else registry
        self.metrics = metrics or Metrics()
        self.on_finished = on_finished
        # Called by the lease keeper every round (the worker registry's
        # heartbeat): rounds come at least every housekeeping_interval.
        self.housekeeping = housekeeping
        self.housekeeping_interval = housekeeping_interval
        self._stopping = threading.Event()
        self._doorbell = Doorbell(concurrency)
        # Up to ``concurrency`` threads claim: as many as make tasks finish
        # sooner (runtime/engagement.py says how that is judged).
        self.engagement = Engagement(concurrency)
        self._threads: list[threading.Thread] = []
        self._keeper: threading.Thread | None = None
        self._keeper_stop = threading.Event()
        self._acks = Acknowledger(self._acknowledge, self._forget)
        self._upkeep = Upkeep(backend) if backend.wants_upkeep else None
        self._ack_inline = backend.acknowledges_in_process
        self._held: dict[str, TaskMessage] = {}
        self._held_lock = threading.Lock()
        # Tasks running now: id → (message, started). One dict write and one
        # pop per task; read by the heartbeat.
        self._running: dict[str, tuple[TaskMessage, float]] = {}
        self._backend_down = False
        self._last_work = 0.0

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        self.backend.add_listener(self._doorbell)
        self._acks.start()
        for index in range(self.concurrency):
            thread = threading.Thread(target=self._work, args=(index,), name=f"symphra-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._keeper = threading.Thread(target=self._keep_leases, name="symphra-lease-keeper", daemon=True)
        self._keeper.start()
        if self._upkeep is not None:
            self._upkeep.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop claiming, let running tasks finish (up to ``timeout``), hand
        back what was claimed but not started, send pending acknowledgements.
        True if all threads finished."""
        self._stopping.set()
        self._doorbell.open()
        self.engagement.stop()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        workers_done = not any(t.is_alive() for t in self._threads)
        # Finished tasks are acknowledged even if the running ones used up the
        # timeout: handing them back instead would run them again.
        remaining = None if deadline is None else max(ACK_FLUSH_GRACE, deadline - time.monotonic())
        acks_done = self._acks.close(remaining)
        # The leases of tasks still running or waiting for their
        # acknowledgement were renewed until here.
        self._keeper_stop.set()
        if self._keeper is not None:
            self._keeper.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self.backend.remove_listener(self._doorbell)
        if self._upkeep is not None:
            self._upkeep.stop()
        if not workers_done:
            waiting = self._acks.holding()
            self._release([m for m in self._held_messages() if m.id not in waiting], "shutdown timeout")
        return workers_done and acks_done

    @property
    def idle(self) -> bool:
        """True when no thread is claiming, running or holding a task."""
        return self.engagement.busy == 0 and not self._held

    def wake(self) -> None:
        """Work has arrived: wake one idle thread."""
        self._doorbell.set()

    # -- the work loop -----------------------------------------------------------

    def _work(self, index: int) -> None:
        runner = Runner(keep=frozenset(self.backend.database_aliases))
        pause = 0.0
        # Each thread starts at another queue so that queues share the threads.
        turn = index
        # Whether this thread's last wait ended with a ring (work announced).
        rung = False
        try:
            engagement = self.engagement
            while not self._stopping.is_set():
                if not engagement.admits(index):
                    if rung:
                        # The ring announced work that another thread must
                        # now take.
                        self._doorbell.set()
                        rung = False
                    engagement.wait_turn(index)
                    continue
                queue = self.queues[turn % len(self.queues)]
                turn += 1
                engagement.begin()
                ran = 0
                try:
                    batch = self._claim(queue)
                    if batch:
                        pause = 0.0
                        if not rung:
                            # Found by looking, not announced by a ring (a
                            # local enqueue, a periodic tick of this process):
                            # while such work keeps coming, one thread polls
                            # fast (BUSY_POLL).
                            self._last_work = time.monotonic()
                        rung = False
                        if len(batch) == self.batch_size:
                            # A full batch: more may be waiting; bring in an
                            # idle claiming thread.
                            self._doorbell.set()
                        ran = len(batch)
                        self._run_batch(batch, runner)
                except Exception:  # a worker thread must outlive any one batch
                    logger.error("worker thread %s: unexpected error while running a batch; the "
                                 "tasks it did not answer will be delivered again when their leases "
                                 "expire", index, exc_info=True)
                    continue
                finally:
                    engagement.end(ran)
                if batch is None:  # backend error: back off
                    pause = min(max(pause * 2, 0.1), 5.0)
                    rung = self._doorbell.wait(pause)
                elif not batch and turn % len(self.queues) == index % len(self.queues):
                    # A full round over every queue found nothing.
                    if self.backend.wakes_workers:
                        # Every arrival rings the doorbell: polling in
                        # between would only spend CPU.
                        pause = self.poll_interval
                    elif index == 0 and time.monotonic() - self._last_work < BUSY_WINDOW:
                        # While work keeps coming, one thread keeps polling
                        # briefly so that a new task waits ~1 ms, not a
                        # grown idle pause; the others back off.
                        pause = BUSY_POLL
                    else:
                        pause = min(max(pause * 2, 0.001), self.poll_interval)
                    rung = self._doorbell.wait(pause)
        finally:
            runner.close()
            from django.db import connections

            connections.close_all()

    def _claim(self, queue: str) -> list[TaskMessage] | None:
        try:
            batch = self.backend.dequeue_sync(self.batch_size, queue=queue, lease_seconds=self.lease_seconds)
        except Exception:
            if not self._backend_down:
                logger.warning("cannot claim from %s (queue %r); retrying with backoff",
                               self.backend.describe(), queue, exc_info=True)
                self._backend_down = True
            return None
        if self._backend_down:
            logger.warning("claiming from %s works again", self.backend.describe())
            self._backend_down = False
        if batch:
            with self._held_lock:
                for message in batch:
                    self._held[message.id] = message
        return batch

    def _run_batch(self, batch: list[TaskMessage], runner: Runner) -> None:
        runner.new_batch()
        answered = 0
        succeeded: list[TaskMessage] = []
        try:
            for message in batch:
                if self._stopping.is_set():
                    self._release(batch[answered:], "shutdown")
                    answered = len(batch)
                    break
                ok = self._execute(message, runner)
                answered += 1
                if ok and self._ack_inline:
                    succeeded.append(message)
                elif ok:
                    # Held (its lease renewed) until acknowledged.
                    self._acks.add(message)
                else:
                    self._forget([message])
        finally:
            if succeeded:
                # The queue lives in this process, so a crash loses it whole:
                # nothing is at stake in acknowledging the batch together.
                self._acknowledge(succeeded)
                self._forget(succeeded)
            # Only if something went wrong: stop renewing what was not
            # answered, so that its lease expires and it is redone.
            self._forget(batch[answered:])

    def _acknowledge(self, messages: list[TaskMessage]) -> None:
        self._call(self.backend.acknowledge_many_sync, messages)

    def _execute(self, message: TaskMessage, runner: Runner) -> bool:
        """Run one message; True if it succeeded (to be acknowledged).

        The one place a run is reported: the in-process counters
        (``metrics``), the signals of :mod:`symphra_django.signals` (which
        feed the Prometheus metrics) and the log lines, whose ``extra``
        fields (see :func:`log_fields`) JSON formatters pick up.
        """
        task = self.registry.get(message.name)
        if task is None:
            self._fail(message, None, unknown_task_error(message.name), None)
            self.metrics.record_unrunnable(message.name)
            return False
        started = time.time()
        if task_started.receivers:
            task_started.emit(self.backend, message, task, lateness=max(0.0, started - message.scheduled_time))
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("task %s (%s) started, attempt %s", shorten_name(message.name), shorten_name(message.id),
                         message.attempts_display, extra=log_fields(message))
        message.meta.setdefault("worker", worker_id())
        token = set_current(message)
        self._running[message.id] = (message, started)
        try:
            runner.run(task, message.args, message.kwargs)
        except BaseException as exc:  # noqa: BLE001 - task code cannot end its worker thread
            duration = time.time() - started
            error = exception_text(exc)
            trace = shorten_traceback(tb.format_exc())
            policy = task.policy
            # The message says how many runs it has (its policy's
            # max_attempts, set when it was enqueued); the policy says which
            # errors are retried and how long to wait. A BaseException that
            # is not an Exception (SystemExit, KeyboardInterrupt …) is
            # retried only if retry_on names it: the default is Exception.
            if message.attempts < message.max_attempts and isinstance(exc, policy.retry_on):
                delay = policy.delay(message.attempts)
                logger.warning("task %s (%s) failed on attempt %s, retrying in %.1fs: %s",
                               shorten_name(message.name), shorten_name(message.id),
                               message.attempts_display, delay, error, extra=log_fields(message, duration))
                self._call(self.backend.reject_sync, message, True, delay=delay, error=error, traceback=trace)
                self.metrics.record(message.name, ok=False, duration=duration, retried=True)
                if task_retried.receivers:
                    task_retried.emit(self.backend, message, task, duration=duration, exception=exc, error=error,
                                      delay=delay)
            else:
                self._fail(message, task, error, trace, exc=exc, duration=duration)
                self.metrics.record(message.name, ok=False, duration=duration)
            self._finished(message, False, error, duration)
            return False
        finally:
            self._running.pop(message.id, None)
            reset_current(token)
        duration = time.time() - started
        self.metrics.record(message.name, ok=True, duration=duration)
        if task_succeeded.receivers:
            task_succeeded.emit(self.backend, message, task, duration=duration)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("task %s (%s) succeeded in %.3fs", shorten_name(message.name), shorten_name(message.id),
                         duration, extra=log_fields(message, duration))
        self._finished(message, True, None, duration)
        return True

    def _fail(
        self,
        message: TaskMessage,
        task: Task | None,
        error: str,
        trace: str | None,
        *,
        exc: BaseException | None = None,
        duration: float | None = None,
    ) -> None:
        """Send a message to the failed store: it failed for good after a
        run (``duration`` given), or could not run at all."""
        ran = duration is not None
        logger.error("task %s (%s) failed%s: %s", shorten_name(message.name), shorten_name(message.id),
                     f" on attempt {message.attempts_display}" if ran else "", error,
                     extra=log_fields(message, duration))
        self._call(self.backend.reject_sync, message, False, error=error, traceback=trace)
        if task_failed.receivers:
            task_failed.emit(self.backend, message, task, duration=duration, exception=exc, error=error,
                             traceback=trace, ran=ran)

    def _finished(self, message: TaskMessage, ok: bool, error: str | None, duration: float) -> None:
        if self.on_finished is not None:
            try:
                self.on_finished(message, ok, error, duration)
            except Exception:
                logger.warning("could not record the outcome of %s", shorten_name(message.id), exc_info=True)

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Answer the backend, retrying a few times: if it stays down the
        lease expires and the task runs again (delivery is at least once)."""
        for attempt in range(5):
            try:
                return method(*args, **kwargs)
            except Exception:
                if attempt == 4:
                    logger.error("could not answer %s after 5 tries; the lease will expire and "
                                 "the task will be delivered again", self.backend.describe(), exc_info=True)
                    return None
                time.sleep(0.1 * 2**attempt)
        return None

    def _release(self, messages: list[TaskMessage], why: str) -> None:
        for message in messages:
            if self._call(self.backend.reject_sync, message, True, delay=0.0, error=None, traceback=None):
                logger.info("handed back %s (%s) at %s", shorten_name(message.name), shorten_name(message.id), why)
        self._forget(messages)

    # -- leases --------------------------------------------------------------------

    def _held_messages(self) -> list[TaskMessage]:
        with self._held_lock:
            return list(self._held.values())

    def _forget(self, messages: list[TaskMessage]) -> None:
        with self._held_lock:
            for message in messages:
                self._held.pop(message.id, None)

    def running(self, limit: int = 50) -> tuple[list[RunningTask], int]:
        """The tasks running now (at most ``limit``, longest-running first)
        and how many there are."""
        entries = list(self._running.copy().values())  # copy(): one step, while threads add and pop
        entries.sort(key=lambda entry: entry[1])
        return [
            RunningTask(id=shorten_name(m.id), name=shorten_name(m.name), queue=shorten_name(m.queue),
                        started=started, lease_expires=m.lease_expires)
            for m, started in entries[:limit]
        ], len(entries)

    def _keep_leases(self) -> None:
        interval = max(0.05, self.lease_seconds / 3)
        if self.housekeeping is not None and self.housekeeping_interval:
            interval = min(interval, self.housekeeping_interval)
        renewing = True
        try:
            while not self._keeper_stop.wait(interval):
                renewing = renewing and self.renew_leases()
                if self.housekeeping is not None:
                    try:
                        self.housekeeping()
                    except Exception:  # never the end of lease renewal
                        logger.warning("housekeeping of the lease keeper failed", exc_info=True)
                elif not renewing:
                    return
        finally:
            from django.db import connections

            connections.close_all()

    def renew_leases(self, now: float | None = None) -> bool:
        """One round of the lease keeper: renew the leases that run out
        within half a lease. False if the backend cannot renew leases.

        Losses and errors are logged once per round, with a count: after an
        outage every held task may have lost its lease at once.
        """
        now = time.time() if now is None else now
        lost: list[TaskMessage] = []
        errors: list[TaskMessage] = []
        first_error: BaseException | None = None
        for message in self._held_messages():
            if message.lease_expires is None or message.lease_expires - now > self.lease_seconds / 2:
                continue
            try:
                if not self.backend.extend_lease_sync(message, self.lease_seconds):
                    lost.append(message)
            except NotImplementedError:
                return False
            except Exception as exc:  # noqa: BLE001 - reported below, retried next round
                errors.append(message)
                first_error = first_error or exc
        if lost:
            # Renewing a lost lease cannot succeed: stop trying, and warn once.
            self._forget(lost)
            logger.warning("lost the lease of %d task(s) (%s): they may run twice",
                           len(lost), _some_ids(lost))
            if task_lease_lost.receivers:
                for message in lost:
                    task_lease_lost.emit(self.backend, message, self.registry.get(message.name))
        if errors:
            logger.warning("could not extend the lease of %d task(s) (%s); will try again",
                           len(errors), _some_ids(errors), exc_info=first_error)
        return True


def _some_ids(messages: list[TaskMessage]) -> str:
    shown = ", ".join(shorten_name(m.id) for m in messages[:LOST_LEASES_SHOWN])
    more = len(messages) - LOST_LEASES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown
