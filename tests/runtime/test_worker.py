"""Workers: running, acknowledging, retrying and failing tasks (memory backend)."""

from __future__ import annotations

import threading
import time

import pytest

from symphra_django import Scheduler
from symphra_django.messages import TaskMessage
from tests.sampleapp import tasks as sample
from tests.support.waiting import wait_until


def burst(**options) -> Scheduler:
    scheduler = Scheduler("default", beat=False, poll_interval=0.01, **options)
    scheduler.run_burst()
    return scheduler


def test_enqueued_tasks_run_and_are_acknowledged(memory, events):
    for i in range(50):
        sample.remember.enqueue(i)
    scheduler = burst()
    assert sorted(e[1] for e in events) == list(range(50))
    assert memory.get_queue_size_sync() == 0
    assert scheduler.get_stats()["tasks"]["tests.sampleapp.tasks.remember"]["successes"] == 50


def test_async_tasks_run_on_the_event_loop(memory, events):
    sample.async_remember.enqueue("a")
    burst()
    assert events == [("async_remember", "a")]


def test_a_failing_task_is_retried_until_it_succeeds(memory, events):
    sample.fail_twice.enqueue("k")
    scheduler = burst()
    assert events == [("fail_twice", "k")] * 3
    stats = scheduler.get_stats()["tasks"]["tests.sampleapp.tasks.fail_twice"]
    assert (stats["retries"], stats["successes"], stats["failures"]) == (2, 1, 0)


def test_a_retry_is_a_delayed_reenqueue_not_a_sleep(memory, clock, events):
    from symphra_django import RetryPolicy

    task = sample.fail_twice
    original = task.retry_policy
    task.retry_policy = RetryPolicy(max_attempts=3, strategy="fixed", wait_min=60)
    try:
        message = task.enqueue("later")
        burst()
        assert memory.get_status_sync(message.id) == "delayed"
        [pending] = memory.peek_sync()
        assert pending.scheduled_time > clock() + 50
        assert "ConnectionError" in pending.error
        clock.advance(60)
        assert memory.get_status_sync(message.id) == "ready"
    finally:
        task.retry_policy = original


def test_after_the_last_attempt_the_task_is_failed_with_its_traceback(memory, events):
    message = sample.always_fails.enqueue()
    burst()
    assert events == [("always_fails",)] * 2
    [failed] = memory.list_failed_sync()
    assert failed.id == message.id
    assert failed.error == "ValueError: this task always fails"
    assert "Traceback" in failed.traceback and "always_fails" in failed.traceback


def test_an_exception_outside_retry_on_fails_at_once(memory, events):
    sample.fails_with_type_error.enqueue()
    burst()
    assert events == [("fails_with_type_error",)]
    assert memory.get_stats_sync().failed == 1


@pytest.mark.parametrize("task", [sample.too_slow, sample.too_slow_async], ids=["sync", "async"])
def test_a_task_over_its_timeout_is_failed_with_a_clear_reason(memory, task):
    task.enqueue()
    burst()
    [failed] = memory.list_failed_sync()
    assert failed.error.startswith("TaskTimeout:") and "exceeded its timeout of 0.3s" in failed.error


def test_an_unknown_task_name_goes_to_the_failed_store(memory):
    memory.enqueue_sync(TaskMessage(name="os.system", args=["echo pwned"]))
    burst()
    [failed] = memory.list_failed_sync()
    assert "unknown task 'os.system'" in failed.error


def test_workers_only_take_their_queues(memory, events):
    sample.send_email.enqueue("x@example.com")
    sample.remember.enqueue(1)
    burst(queues=["emails"])
    assert events == [("send_email", "x@example.com")]
    assert memory.get_queue_size_sync("default") == 1


def test_a_long_task_keeps_its_lease(memory, events):
    sample.sleep_for.enqueue(1.5, "long")
    burst(lease_seconds=0.6)
    assert events == [("slept", "long")]
    assert memory.get_stats_sync().failed == 0


def test_stop_hands_back_claimed_tasks_that_have_not_started(memory, events):
    sample.sleep_for.enqueue(0.5, "first")
    for i in range(5):
        sample.remember.enqueue(i)
    scheduler = Scheduler("default", beat=False, workers=1, batch_size=10, poll_interval=0.01)
    scheduler.start()
    wait_until(lambda: events or memory.get_stats_sync().in_flight, timeout=5, interval=0.01,
               message="the worker to claim its batch")
    assert scheduler.stop(timeout=5) is True
    assert ("slept", "first") in events
    # The five tasks claimed in the same batch were handed back, not lost.
    stats = memory.get_stats_sync()
    assert stats.in_flight == 0
    assert stats.ready + len([e for e in events if e[0] == "remember"]) == 5


def test_stop_waits_for_the_running_task_up_to_the_timeout(memory, events):
    message = sample.sleep_for.enqueue(1, "too-long")
    scheduler = Scheduler("default", beat=False, workers=1, poll_interval=0.01)
    scheduler.start()
    wait_until(lambda: memory.get_stats_sync().in_flight, timeout=5, interval=0.01,
               message="the task to start")
    assert scheduler.stop(timeout=0.2) is False
    # Its lease was handed back at once: another worker can redo it now.
    assert memory.get_status_sync(message.id) == "ready"
    # The abandoned thread still finishes its sleep; wait so it cannot leak
    # its event into the next test.
    wait_until(lambda: ("slept", "too-long") in events, timeout=5, message="the abandoned task to finish")


def test_scheduler_without_backend_uses_memory_and_symphra_schedulers_api():
    scheduler = Scheduler(poll_interval=0.01)
    ran = threading.Event()

    def ping():
        ran.set()

    declared = scheduler.register_task(ping, name="tests.ping")
    try:
        assert scheduler.get_task("tests.ping") is declared
        scheduler.backend.enqueue_sync(TaskMessage(name="tests.ping"))
        scheduler.start()
        assert ran.wait(5)
        assert scheduler.stop() is True
        assert scheduler.get_stats()["totals"]["successes"] == 1
    finally:
        assert scheduler.unregister_task("tests.ping") is declared


def test_a_no_retry_task_held_by_a_killed_worker_is_redone_not_failed(memory, clock, events):
    message = sample.too_slow.enqueue()  # retry_policy="no_retry"
    [held] = memory.dequeue_sync(lease_seconds=30)  # a worker takes it, then dies
    assert memory.dequeue_sync() == []
    clock.advance(31)  # its lease runs out
    [again] = memory.dequeue_sync(lease_seconds=30)
    assert again.id == message.id == held.id
    assert again.attempts == 2


def test_a_task_that_keeps_killing_its_workers_ends_in_the_failed_store(memory, clock):
    sample.too_slow.enqueue()
    for _ in range(3):  # no_retry: 1 attempt + 2 crash redeliveries
        assert len(memory.dequeue_sync(lease_seconds=30)) == 1
        clock.advance(31)  # the worker died: its lease runs out
    assert memory.dequeue_sync() == []
    [failed] = memory.list_failed_sync()
    assert "lease expired" in failed.error


def test_one_task_wakes_one_idle_thread_not_the_whole_pool(events):
    from symphra_django.backends.memory import MemoryBackend
    from symphra_django.runtime.worker import WorkerPool

    class CountingBackend(MemoryBackend):
        claimers: list[str] = []

        def dequeue_sync(self, *args, **kwargs):
            self.claimers.append(threading.current_thread().name)
            return super().dequeue_sync(*args, **kwargs)

    backend = CountingBackend()
    pool = WorkerPool(backend, ["default"], concurrency=4, poll_interval=30)
    pool.start()
    try:
        # Idle threads back off (1, 2, 4 … ms): after 3 s each sleeps >= 1 s.
        time.sleep(3)
        before = len(backend.claimers)
        backend.enqueue_sync(sample.remember.message((5,), {}, sample_options()))
        wait_until(lambda: events, timeout=5, interval=0.005, message="the task to run")
        time.sleep(0.1)
        assert events == [("remember", 5)]
        # One thread was woken (plus at most one whose own pause happened to
        # end); waking the whole pool would make all four threads claim.
        assert len(set(backend.claimers[before:])) <= 2
    finally:
        pool.stop(5)


def test_idle_threads_do_not_poll_a_backend_that_wakes_them(events):
    from symphra_django.backends.memory import MemoryBackend
    from symphra_django.runtime.worker import WorkerPool

    class WakingBackend(MemoryBackend):
        wakes_workers = True
        claims = 0

        def dequeue_sync(self, *args, **kwargs):
            WakingBackend.claims += 1
            return super().dequeue_sync(*args, **kwargs)

    backend = WakingBackend()
    pool = WorkerPool(backend, ["default"], concurrency=4, poll_interval=30)
    pool.start()
    try:
        time.sleep(0.5)
        # One look on start (by the one thread claiming until more would
        # help), then asleep until rung: a 1, 2, 4 … ms back-off would have
        # made about 9 claims by now.
        assert WakingBackend.claims == 1
        backend.enqueue_sync(sample.remember.message((6,), {}, sample_options()))
        wait_until(lambda: events, timeout=5, interval=0.005, message="the task to run")
        assert events == [("remember", 6)]
    finally:
        pool.stop(5)


def sample_options():
    from symphra_django.tasks.base import EnqueueOptions

    return EnqueueOptions()


@pytest.mark.django_db
def test_the_connections_checked_after_each_task_are_those_django_knows_the_thread_opened():
    from django.db import connections

    from symphra_django.runtime.runner import initialized_connections

    def same() -> bool:
        return initialized_connections() == connections.all(initialized_only=True)

    connections["default"].ensure_connection()
    assert initialized_connections() and same()
    seen: list[bool] = []

    def other_thread() -> None:
        seen.append(same() and initialized_connections() == [])
        connections["default"].ensure_connection()
        seen.append(same() and len(initialized_connections()) == 1)
        connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen == [True, True]


@pytest.mark.parametrize(("rings", "polls_fast"), [(True, False), (False, True)])
def test_only_work_found_by_looking_keeps_a_thread_polling_fast(events, rings, polls_fast):
    # A backend that cannot wake workers for every arrival: a thread polls
    # every millisecond for a while after it found work by looking, since
    # more may follow the same way. Work announced by a ring (a tick this
    # process enqueued) needs no such watch: it rings again.
    from symphra_django.backends.memory import MemoryBackend
    from symphra_django.runtime.worker import WorkerPool

    class Quiet(MemoryBackend):
        wakes_workers = False

        def add_listener(self, event):
            if rings:
                super().add_listener(event)

    backend = Quiet()
    pool = WorkerPool(backend, ["default"], concurrency=1, poll_interval=30)
    pool.start()
    try:
        # Backed off (1, 2, 4 … ms): the thread is asleep, not mid-claim, when the task comes.
        time.sleep(0.5)
        backend.enqueue_sync(sample.remember.message((6,), {}, sample_options()))
        wait_until(lambda: events, timeout=5, interval=0.005, message="the task to run")
        assert (pool._last_work > 0) is polls_fast
    finally:
        pool.stop(5)


def test_tasks_that_wait_spread_over_every_thread_of_the_pool(memory, events):
    # One thread claims at first; threads whose tasks leave the CPU idle
    # (sleeping, waiting on I/O) bring in the others.
    for i in range(24):
        sample.sleep_on_thread.enqueue(0.1, str(i))
    burst(workers=4, batch_size=1)
    assert len(events) == 24
    assert {thread for _, thread, _ in events} == {f"symphra-worker-{i}" for i in range(4)}
