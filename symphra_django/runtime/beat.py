"""Beat: turns due periodic ticks into idempotent enqueues.

For each enabled periodic task, the latest tick at or before now is enqueued
once if it is newer than the ledger's last tick and no older than the misfire
grace time: after downtime, missed ticks coalesce into one run (or none, past
the grace time) instead of a burst of catch-up runs. A tick is skipped while
``max_instances`` earlier runs of the task are still queued or running.

The schedules are the periodic tasks the code declares and, when the beat is
given a ``stored`` source, the schedules kept in the database; both are read
again on every loop (at most ``max_sleep`` apart), so a pause, an edit or a
deletion takes effect within one tick.

The loop plans ahead: it wakes ``lead`` seconds before the next tick is due,
reads the schedules, the ledger and the previous runs' states then, sleeps
until the due instant and only claims and enqueues the tick at it. A tick
thus starts a claim and an enqueue after its due time, not after every read
of a loop that happens to wake past it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from symphra_django.backends.base import QueueBackend
from symphra_django.messages import PENDING_STATES, TaskMessage, from_timestamp
from symphra_django.runtime.ticks import Ledger
from symphra_django.signals import task_enqueued
from symphra_django.tasks.base import Task
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.tasks.schedules import Schedule, Window

logger = logging.getLogger("symphra_django.beat")

#: Seconds before a tick is due that the beat reads what it needs to enqueue
#: it (schedules, ledger, the previous runs' states): enough for those reads
#: on a loaded machine, short enough that the reads are still current.
LEAD = 0.1


@dataclass(frozen=True)
class Periodic:
    """One schedule as the beat runs it: a periodic task the code declares, or
    a schedule kept in the database (``symphra_django.runtime.stored``).

    ``key`` names it in the tick ledger, in its tasks' ``meta["schedule"]``
    and in their tick ids; ``grace`` of None means the beat's own.
    """

    key: str
    task: Task
    schedule: Schedule
    window: Window
    max_instances: int
    queue: str
    priority: int
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    grace: float | None = None

    #: Holds a Task, which templates would call.
    do_not_call_in_templates = True

    @classmethod
    def of_task(cls, task: Task) -> Periodic:
        """A periodic task of the registry (it has a schedule)."""
        assert task.schedule is not None, task.name
        return cls(key=task.name, task=task, schedule=task.schedule, window=task.window,
                   max_instances=task.max_instances, queue=task.queue, priority=task.priority)


class StoredSchedules(Protocol):
    """Where the beat reads the schedules kept outside the code."""

    def load(self, registry: TaskRegistry) -> list[Periodic]: ...


@dataclass
class _Due:
    """A tick to enqueue at its due instant, as read ahead of it."""

    entry: Periodic
    tick: float
    #: The ledger's last tick of the schedule when it was read.
    last: float | None
    backend: QueueBackend
    #: Earlier runs of the schedule still queued or running when read.
    running: int


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
        stored: StoredSchedules | None = None,
        holder: str = "",
        lead: float = LEAD,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.registry = registry
        self.backend_for = backend_for
        self.ledger = ledger
        self.grace = grace
        self.max_sleep = max_sleep
        # Lets local idle workers start a tick at once instead of at their next poll.
        self.on_enqueued = on_enqueued
        # Schedules kept in the database, read again on every loop.
        self.stored = stored
        # Recorded in the ledger beside each tick this beat wins (host:pid).
        self.holder = holder
        #: When the loop last looked for due ticks (epoch seconds), None before.
        self.last_loop_at: float | None = None
        #: Called after each loop (the heartbeat of a process without workers).
        self.on_loop: Callable[[], None] | None = None
        self.lead = lead
        self._stopping = threading.Event()
        # The clock of the schedules (epoch seconds) and how the beat waits on
        # it: ``sleep(seconds)`` returns True once the beat is stopping.
        self.clock = clock
        self.sleep = self._stopping.wait if sleep is None else sleep
        self._thread: threading.Thread | None = None
        self.enqueued = 0
        self._skipped: dict[str, float] = {}
        # Keys whose ledger rows exist: a claim only moves an existing row.
        self._ensured: set[str] = set()
        self._failing = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="symphra-beat", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            delay = self.step()
            if self.on_loop is not None:
                try:
                    self.on_loop()
                except Exception:  # never the end of the beat
                    logger.warning("the beat's housekeeping failed", exc_info=True)
            self.sleep(delay)

    def step(self) -> float:
        """One pass of the loop: enqueue what is due now or within ``lead``
        seconds (each at its due instant); returns how long to sleep before
        the next pass: until ``lead`` before the next tick, at most ``max_sleep``."""
        try:
            # Twice the lead: a wake-up a little early (the clock's rounding,
            # a timer) still reads the next tick ahead.
            next_due = self.run_pending(ahead=2 * self.lead)
            if self._failing:
                logger.warning("beat works again")
            self._failing = False
        except Exception:
            if not self._failing:
                logger.error("beat could not enqueue due ticks; retrying", exc_info=True)
            self._failing = True
            return self.max_sleep
        return min(self.max_sleep, max(0.0, next_due - self.lead - self.clock()))

    def entries(self) -> list[Periodic]:
        """Every schedule to run now: the code's enabled and unpaused periodic
        tasks, then the enabled schedules of the database."""
        tasks = self.registry.periodic()
        entries = []
        if tasks:
            enabled = self.ledger.enabled([t.name for t in tasks])
            entries = [Periodic.of_task(t) for t in tasks if t.enabled and enabled.get(t.name, True)]
        if self.stored is not None:
            entries += self.stored.load(self.registry)
        return entries

    def run_pending(self, now: float | None = None, *, ahead: float = 0.0) -> float:
        """Enqueue every tick due by ``now + ahead``, each once its due instant
        has come (the beat sleeps until then); returns when the next one is due.

        What the enqueues need is read first, at ``now``: at the due instant
        only the ledger claim and the enqueue remain.
        """
        now = self.clock() if now is None else now
        self.last_loop_at = now
        horizon = now + ahead
        entries = self.entries()
        next_due = horizon + self.max_sleep
        if not entries:
            return next_due
        keys = [entry.key for entry in entries]
        unseen = [key for key in keys if key not in self._ensured]
        if unseen:
            self.ledger.ensure(unseen)
        # Forgetting the keys that went away (a deleted database schedule's
        # row goes with it) makes a key that comes back ensure its row again.
        self._ensured = set(keys)
        last_ticks = self.ledger.last_ticks(keys)
        due: list[_Due] = []
        for entry in entries:
            planned = self._due(entry, now, horizon, last_ticks.get(entry.key))
            if planned is not None:
                due.append(planned)
            upcoming = entry.schedule.next_after(now if planned is None else max(now, planned.tick))
            if upcoming is not None and entry.window.contains(upcoming):
                next_due = min(next_due, upcoming)
        due.sort(key=lambda planned: planned.tick)
        for planned in due:
            # A tick read ahead is enqueued at its due instant on the beat's
            # clock, not before: a worker could not claim it yet.
            while planned.tick > now and (wait := planned.tick - self.clock()) > 0:
                if self.sleep(wait):
                    return next_due
            self._run(planned)
        return next_due

    def _due(self, entry: Periodic, now: float, horizon: float, last: float | None) -> _Due | None:
        """The schedule's tick to enqueue next, if it is due by ``horizon``:
        the latest one at or before ``now`` not enqueued yet (missed ticks
        coalesce into it), else the first one after ``now``; with what its
        enqueue needs to know, read now."""
        grace = self.grace if entry.grace is None else entry.grace
        tick = entry.schedule.latest_at_or_before(now)
        if (tick is None or (last is not None and tick <= last) or not entry.window.contains(tick)
                or now - tick > grace):  # a tick missed for good: the next one will run
            tick = entry.schedule.next_after(now)
            if tick is None or tick > horizon or not entry.window.contains(tick):
                return None
            if last is not None and tick <= last:
                return None  # another scheduler enqueued it already
        backend = self.backend_for(entry.task)
        return _Due(entry, tick, last, backend, self._running_instances(entry, backend, last))

    def _run(self, planned: _Due) -> None:
        entry, tick, last, backend = planned.entry, planned.tick, planned.last, planned.backend
        # Runs only end between the read and now: read again only if the
        # earlier runs were too many then.
        if planned.running >= entry.max_instances and (
            self._running_instances(entry, backend, last) >= entry.max_instances
        ):
            # Not claimed: the ledger keeps pointing at the run still going.
            if self._skipped.get(entry.key) != tick:
                self._skipped[entry.key] = tick
                logger.info("skipping tick %s of %s: its previous run is still pending (max_instances=%d)",
                            from_timestamp(tick).isoformat(), entry.key, entry.max_instances)
            return
        upcoming = entry.schedule.next_after(tick)
        if not self.ledger.claim(entry.key, tick, by=self.holder, next_run=upcoming):
            return  # another scheduler won this tick
        message = TaskMessage(
            id=tick_id(entry.key, tick),
            name=entry.task.name,
            args=list(entry.args),
            kwargs=dict(entry.kwargs),
            queue=entry.queue,
            priority=entry.priority,
            scheduled_time=tick,
            max_attempts=entry.task.policy.max_attempts,
            meta={"schedule": entry.key, "tick": tick},
        )
        try:
            message.created = backend.enqueue_sync(message)
        except Exception:
            self.ledger.unclaim(entry.key, tick, last)
            raise
        self.enqueued += 1
        if task_enqueued.receivers:
            task_enqueued.emit(backend, message, entry.task, created=message.created,
                               scheduled_time=message.scheduled_time)
        if self.on_enqueued is not None:
            self.on_enqueued(message)
        logger.debug("enqueued tick %s of %s", from_timestamp(tick).isoformat(), entry.key)

    def _running_instances(self, entry: Periodic, backend: QueueBackend, last: float | None) -> int:
        """How many of the schedule's most recent ticks are still queued or running."""
        count, tick = 0, last
        for _ in range(entry.max_instances):
            if tick is None:
                break
            try:
                status = backend.get_status_sync(tick_id(entry.key, tick), entry.queue)
            except NotImplementedError:
                return 0
            if status not in PENDING_STATES:
                break
            count += 1
            tick = entry.schedule.latest_at_or_before(tick - 1e-3)
        return count
