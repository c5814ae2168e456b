"""How many threads of a pool claim work: one, and more only while they help."""

from __future__ import annotations

import threading
import time

from symphra_django.runtime.engagement import MAX_PROBE_INTERVAL, Engagement
from tests.support.waiting import wait_until


class Load:
    """A pool's threads, driven by hand: each step is one batch on every
    claiming thread, taking ``step`` seconds, using ``cpu`` cores of the
    process and finishing ``rate(active)`` tasks a second."""

    def __init__(self, limit: int = 4, *, cpu: float, rate=lambda active: 1000.0, step: float = 0.05) -> None:
        self.now = 0.0
        self.cpu_time = 0.0
        self.cpu, self.rate, self.step = cpu, rate, step
        self.engagement = Engagement(limit, cpu_clock=lambda: self.cpu_time, clock=lambda: self.now)

    def run(self, seconds: float) -> list[int]:
        """Run for ``seconds``; the number of claiming threads at each step."""
        seen = []
        for _ in range(round(seconds / self.step)):
            active = self.engagement.active
            for _ in range(active):
                self.engagement.begin()
            self.now += self.step
            self.cpu_time += self.step * self.cpu
            # The step's tasks are counted with the first batch to end: the
            # review that batch's end may make then sees the whole step.
            finished = round(self.rate(active) * self.step)
            for i in range(active):
                self.engagement.end(finished if i == 0 else 0)
            seen.append(self.engagement.active)
        return seen


def test_a_pool_starts_with_one_thread_claiming():
    engagement = Engagement(4)
    assert engagement.active == 1
    assert engagement.admits(0) and not engagement.admits(1)


def test_threads_that_mostly_wait_bring_in_another_every_window_up_to_the_limit():
    load = Load(limit=4, cpu=0.05)
    seen = load.run(1.0)
    assert seen[-1] == 4
    # One more at a time, at most one a window, all four within a few windows.
    growth = seen[: seen.index(4) + 1]
    assert all(later - earlier in (0, 1) for earlier, later in zip(growth, growth[1:]))
    assert len(growth) <= 8


def test_python_bound_tasks_keep_to_one_thread_after_a_trial_that_did_not_pay():
    # A second thread only hands the GIL back and forth: tasks finish slower.
    load = Load(limit=4, cpu=0.97, rate=lambda active: 80_000 if active == 1 else 45_000)
    seen = load.run(10.0)
    assert seen.count(1) > 0.9 * len(seen)
    assert seen[-1] == 1
    # Each trial that did not pay waits twice as long for the next, up to the cap.
    trials = [i for i in range(1, len(seen)) if seen[i] == 2 and seen[i - 1] == 1]
    gaps = [b - a for a, b in zip(trials, trials[1:])]
    assert gaps == sorted(gaps)
    assert load.engagement._probe_interval <= MAX_PROBE_INTERVAL


def test_a_trial_thread_that_makes_tasks_finish_faster_is_kept():
    # Tasks in C code that releases the GIL: two threads use two cores.
    load = Load(limit=2, cpu=1.0, rate=lambda active: 1000.0 * active)
    seen = load.run(2.0)
    assert seen[-1] == 2


def test_a_thread_taken_out_stays_out_when_tasks_finish_no_slower():
    load = Load(limit=4, cpu=0.05)
    load.run(1.0)
    assert load.engagement.active == 4
    # The same pool's tasks become Python bound: four threads are no faster
    # than three, three no faster than two...
    load.cpu, load.rate = 0.99, (lambda active: 50_000 - 1_000 * active)
    seen = load.run(12.0)
    assert seen[-1] == 1


def second_thread(engagement: Engagement) -> tuple[threading.Thread, threading.Event]:
    """Thread 1 of a pool, waiting its turn; the event is set once it is let in."""
    admitted = threading.Event()

    def second() -> None:
        engagement.wait_turn(1)
        admitted.set()

    thread = threading.Thread(target=second)
    thread.start()
    return thread, admitted


def test_a_thread_waiting_its_turn_is_let_in_when_its_peers_are_all_held_up():
    engagement = Engagement(2, window=0.05)
    engagement.begin()  # thread 0 runs a long task that sleeps
    thread, admitted = second_thread(engagement)
    try:
        wait_until(admitted.is_set, timeout=5, message="the second thread to be let in")
        assert engagement.active == 2
    finally:
        engagement.stop()
        thread.join(5)


def test_a_thread_that_began_waiting_while_the_pool_was_idle_is_let_in_when_a_long_task_holds_the_pool():
    engagement = Engagement(2, window=0.05)
    thread, admitted = second_thread(engagement)
    try:
        time.sleep(0.2)  # idle: the second thread waits without a timeout
        assert not admitted.is_set()
        engagement.begin()  # then thread 0 starts a task that sleeps
        wait_until(admitted.is_set, timeout=5, message="the second thread to be let in")
    finally:
        engagement.stop()
        thread.join(5)


def test_back_to_back_batches_of_one_thread_do_not_wake_the_threads_waiting_their_turn():
    # Between two batches of the one claiming thread the pool is idle for
    # an instant; waking a waiting thread there would hand the GIL across
    # cores once a batch.
    reviews_by_waiter = []

    class Counting(Engagement):
        def _review(self) -> None:
            if threading.current_thread() is waiter:
                reviews_by_waiter.append(1)
            super()._review()

    engagement = Counting(2, window=60.0)  # no review falls due by the clock
    engagement.begin()  # busy: the waiter waits with a timeout
    waiter = threading.Thread(target=engagement.wait_turn, args=(1,))
    waiter.start()
    try:
        wait_until(lambda: engagement._cond._waiters, timeout=5, message="the second thread to wait")
        engagement.end(32)
        for _ in range(200):
            engagement.begin()
            engagement.end(32)
        time.sleep(0.1)  # what a wake would have let it do
        assert reviews_by_waiter == []
    finally:
        engagement.stop()
        waiter.join(5)


def test_an_idle_pools_polls_let_no_other_thread_in():
    now = [0.0]
    engagement = Engagement(4, cpu_clock=lambda: 0.0, clock=lambda: now[0])
    for _ in range(100):  # a poll every 10 ms that finds nothing, at no CPU
        engagement.begin()
        now[0] += 0.001
        engagement.end(0)
        now[0] += 0.009
    assert engagement.active == 1


def test_stop_releases_every_thread_waiting_its_turn():
    engagement = Engagement(3)
    threads = [threading.Thread(target=engagement.wait_turn, args=(i,)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    engagement.stop()
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()

