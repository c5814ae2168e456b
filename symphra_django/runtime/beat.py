"""Beat: turns due periodic ticks into idempotent enqueues.

For each enabled periodic task, the latest tick at or before now is enqueued
once if it is newer than the ledger's last tick and no older than the misfire
grace time: after downtime, missed ticks coalesce into one run (or none, past
the grace time) instead of a burst of catch-up runs. A tick is skipped while
``max_instances`` earlier runs of the task are still queued or running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from symphra_django.backends.base import QueueBackend
from symphra_django.messages import PENDING_STATES, TaskMessage, from_timestamp
from symphra_django.runtime.ticks import Ledger
from symphra_django.tasks.base import Task
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.tasks.schedules import Schedule

logger = logging.getLogger("symphra_django.beat")



def _schedule_of(task: Task) -> Schedule:
    """The schedule of a periodic task (``registry.periodic()`` lists only
    tasks that have one)."""
    assert task.schedule is not None, task.name
    return task.schedule


def tick_id(name: str, tick: float) -> str:
    """The deterministic id of one tick (C2 makes its enqueue idempotent)."""
    return f"tick:{name}:{tick:.3f}"


class Beat:
    def __init__(
        self,
        registry: TaskRegistry,
        backend_for: Callable[[Task], QueueBackend],
        ledger: Ledger,
        *,
        grace: float = 60.0,
        max_sleep: float = 1.0,
        on_enqueued: Callable[[TaskMessage], None] | None = None,
    ) -> None:
        self.registry = registry
        self.backend_for = backend_for
        self.ledger = ledger
        self.grace = grace
        self.max_sleep = max_sleep
        # Lets local idle workers start a tick at once instead of at their next poll.
        self.on_enqueued = on_enqueued
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.enqueued = 0
        self._skipped: dict[str, float] = {}

    def start(self) -> None:
        self.ledger.ensure([task.name for task in self.registry.periodic()])
        self._thread = threading.Thread(target=self._loop, name="symphra-beat", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        failing = False
        while not self._stopping.is_set():
            try:
                next_due = self.run_pending()
                if failing:
                    logger.warning("beat works again")
                failing = False
            except Exception:
                if not failing:
                    logger.error("beat could not enqueue due ticks; retrying", exc_info=True)
                failing = True
                next_due = time.time() + self.max_sleep
            self._stopping.wait(min(self.max_sleep, max(0.005, next_due - time.time())))

    def run_pending(self, now: float | None = None) -> float:
        """Enqueue every due tick; returns when the next one is due."""
        now = time.time() if now is None else now
        tasks = self.registry.periodic()
        if not tasks:
            return now + self.max_sleep
        enabled = self.ledger.enabled([t.name for t in tasks])
        next_due = now + self.max_sleep
        for task in tasks:
            if not task.enabled or not enabled.get(task.name, True):
                continue
            self._run_task(task, now)
            upcoming = _schedule_of(task).next_after(now)
            if upcoming is not None and task.window.contains(upcoming):
                next_due = min(next_due, upcoming)
        return next_due

    def _run_task(self, task: Task, now: float) -> None:
        schedule = _schedule_of(task)
        tick = schedule.latest_at_or_before(now)
        if tick is None or not task.window.contains(tick):
            return
        last = self.ledger.last_tick(task.name)
        if last is not None and tick <= last:
            return
        if now - tick > self.grace:
            return  # missed for good; the next tick will run
        backend = self.backend_for(task)
        if self._running_instances(task, backend, last) >= task.max_instances:
            # Not claimed: the ledger keeps pointing at the run still going.
            if self._skipped.get(task.name) != tick:
                self._skipped[task.name] = tick
                logger.info("skipping tick %s of %s: its previous run is still pending (max_instances=%d)",
                            from_timestamp(tick).isoformat(), task.name, task.max_instances)
            return
        if not self.ledger.claim(task.name, tick):
            return  # another scheduler won this tick
        message = TaskMessage(
            id=tick_id(task.name, tick),
            name=task.name,
            queue=task.queue,
            priority=task.priority,
            scheduled_time=tick,
            max_attempts=task.policy.max_attempts,
            meta={"schedule": task.name, "tick": tick},
        )
        try:
            backend.enqueue_sync(message)
        except Exception:
            self.ledger.unclaim(task.name, tick, last)
            raise
        self.enqueued += 1
        if self.on_enqueued is not None:
            self.on_enqueued(message)
        upcoming = schedule.next_after(tick)
        self.ledger.set_next_run(task.name, upcoming)
        logger.debug("enqueued tick %s of %s", from_timestamp(tick).isoformat(), task.name)

    def _running_instances(self, task: Task, backend: QueueBackend, last: float | None) -> int:
        """How many of the task's most recent ticks are still queued or running."""
        count, tick = 0, last
        for _ in range(task.max_instances):
            if tick is None:
                break
            try:
                status = backend.get_status_sync(tick_id(task.name, tick), task.queue)
            except NotImplementedError:
                return 0
            if status not in PENDING_STATES:
                break
            count += 1
            tick = _schedule_of(task).latest_at_or_before(tick - 1e-3)
        return count
