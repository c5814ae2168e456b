"""How many of a pool's worker threads claim work: as many as help.

Threads of one process run Python one at a time (the GIL). Every system call
a task makes (a write, a query, a socket read) lets another waiting thread
take the GIL, and that handoff between two cores costs more than a short
task itself: with four threads claiming, a no-op task took 26 µs of CPU
against 11 µs with one, and a pool ran half as many tasks a second. Threads
help when tasks (or claims) wait on I/O, or run C code that releases the GIL;
they cost when tasks are Python bound.

So a pool starts with one thread claiming (:attr:`Engagement.active`) and the
others wait their turn. Every ``window`` seconds, while every claiming thread
is busy, the pool looks at the process's CPU time over the window:

* under ``ROOM`` of one core: the busy threads spend part of their time
  waiting (on I/O, on the broker), so another one is taken in at once;
* otherwise it tries one thread more (or, with several claiming, one fewer)
  for a window and keeps the change only if tasks finished faster (or no
  slower); a change that did not pay is undone and tried again after twice
  as long, up to ``MAX_PROBE_INTERVAL``.

The result: Python-bound work keeps to one thread, I/O-bound work spreads over
all of them within a few windows, and a change of workload is followed.
Clocks are injectable for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Seconds between two looks at the process's CPU time.
WINDOW = 0.05
#: CPU time per wall second under which the busy threads are taken to be
#: waiting (on I/O, on a lock), so another thread can only help.
ROOM = 0.85
#: A trial thread is kept when tasks finish this much faster with it...
GAIN = 1.1
#: ...and a thread taken out stays out when they finish at least this fast.
KEEP = 0.95
#: Seconds between two looks of a thread waiting its turn while the pool
#: was idle when it began to wait. Nothing wakes it when work starts: with
#: one thread claiming, the pool is idle for an instant between any two
#: batches (and between any two polls of an idle queue), and a wake there
#: cost a GIL handoff each time (a third of the throughput of short
#: Python-bound tasks). A task that holds every claiming thread is seen
#: within this long, and another thread let in.
IDLE_LOOK = 1.0
#: Seconds between trials at first; doubled after each that did not pay.
PROBE_INTERVAL = 0.5
MAX_PROBE_INTERVAL = 8.0


class Engagement:
    """The number of claiming threads of one pool, between 1 and ``limit``.

    Thread ``index`` claims while ``index < active``; the pool calls
    :meth:`begin` and :meth:`end` around each batch (claim, run, acknowledge)
    and :meth:`wait_turn` when a thread is not admitted.
    """

    def __init__(
        self,
        limit: int,
        *,
        window: float = WINDOW,
        cpu_clock: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = max(1, limit)
        self.active = 1
        self.window = window
        self._cpu_clock = cpu_clock
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._busy = 0
        self._idle_since = clock()
        self._finished = 0
        self._stopped = False
        self._mark_time = clock()
        self._mark_cpu = cpu_clock()
        self._mark_finished = 0
        self._probe_interval = PROBE_INTERVAL
        self._next_probe = self._mark_time + PROBE_INTERVAL
        # While a trial runs: (active before it, tasks/s before it).
        self._trial: tuple[int, float] | None = None
        # Trials alternate between one thread fewer and one more.
        self._probe_down = False

    @property
    def busy(self) -> int:
        """Threads between :meth:`begin` and :meth:`end`: claiming or running a batch."""
        with self._cond:
            return self._busy

    def admits(self, index: int) -> bool:
        return index < self.active or self._stopped

    def begin(self) -> None:
        """A claiming thread starts a batch."""
        with self._cond:
            if not self._busy:
                now = self._clock()
                if now - self._idle_since > self.window:
                    # Measure from here: a window that spans idle time
                    # would read as room for more threads.
                    self._mark_time, self._mark_cpu = now, self._cpu_clock()
                    self._mark_finished = self._finished
            self._busy += 1

    def end(self, finished: int) -> None:
        """A claiming thread is done with a batch of which ``finished`` tasks ran."""
        with self._cond:
            self._finished += finished
            # Reviewed while this thread still counts as busy: its batch
            # just ran. A claim that found nothing says nothing about
            # whether more threads would help (an idle pool's polls would
            # read as threads busy at no CPU, and let in another).
            if finished:
                self._review()
            self._busy -= 1
            if not self._busy:
                self._idle_since = self._clock()

    def wait_turn(self, index: int) -> None:
        """Block until thread ``index`` is admitted or :meth:`stop` is called.
        While every claiming thread is busy the wait ends each window to
        review, and otherwise every ``IDLE_LOOK`` seconds, so a pool whose
        threads are all held up by long tasks still takes in more."""
        with self._cond:
            while index >= self.active and not self._stopped:
                self._cond.wait(self.window if self._busy else IDLE_LOOK)
                self._review()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _review(self) -> None:
        # Called with the lock held.
        now = self._clock()
        elapsed = now - self._mark_time
        if elapsed < self.window:
            return
        cpu = self._cpu_clock()
        load = (cpu - self._mark_cpu) / elapsed
        rate = (self._finished - self._mark_finished) / elapsed
        self._mark_time, self._mark_cpu, self._mark_finished = now, cpu, self._finished
        all_busy = self._busy >= self.active
        if self._trial is not None:
            before, before_rate = self._trial
            self._trial = None
            kept = rate >= before_rate * (GAIN if self.active > before else KEEP)
            if kept:
                self._probe_interval = PROBE_INTERVAL
            else:
                self._set(before)
                self._probe_interval = min(self._probe_interval * 2, MAX_PROBE_INTERVAL)
            self._next_probe = now + self._probe_interval
            return
        if not all_busy:
            return
        if load < ROOM and self.active < self.limit:
            self._set(self.active + 1)
            return
        if now < self._next_probe or rate <= 0:
            return
        # Alternate: fewer threads when several claim, else one more.
        if self.active > 1 and (self.active == self.limit or self._probe_down):
            self._trial = (self.active, rate)
            self._set(self.active - 1)
        elif self.active < self.limit:
            self._trial = (self.active, rate)
            self._set(self.active + 1)
        self._probe_down = not self._probe_down

    def _set(self, active: int) -> None:
        grew = active > self.active
        self.active = active
        if grew:
            self._cond.notify_all()
