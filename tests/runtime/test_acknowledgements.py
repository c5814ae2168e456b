"""Each task is acknowledged as it finishes (grouped in the background), so a
worker killed mid-batch has only its unfinished tasks delivered again."""

from __future__ import annotations

import threading

from symphra_django.backends.memory import MemoryBackend
from symphra_django.messages import TaskMessage
from symphra_django.runtime.acknowledger import Acknowledger
from symphra_django.runtime.worker import WorkerPool
from symphra_django.tasks.base import EnqueueOptions, declare
from symphra_django.tasks.registry import TaskRegistry
from tests.support.waiting import wait_until


class SpyBackend(MemoryBackend):
    """A memory backend that records every acknowledgement call and can hold
    them back until ``acks_open`` is set. It acknowledges like a remote
    backend (through the grouping thread), which is what these tests are about."""

    acknowledges_in_process = False

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.ack_calls: list[list[str]] = []
        self.extended: list[str] = []
        self.acks_open = threading.Event()
        self.acks_open.set()

    def acknowledge_many_sync(self, tasks):
        tasks = list(tasks)
        self.acks_open.wait(10)
        self.ack_calls.append([t.id for t in tasks])
        return super().acknowledge_many_sync(tasks)

    def extend_lease_sync(self, task, seconds=None):
        self.extended.append(task.id)
        return super().extend_lease_sync(task, seconds)

    @property
    def acknowledged(self) -> set[str]:
        return {task_id for call in self.ack_calls for task_id in call}


def steps_pool(backend: MemoryBackend, gate: threading.Event, started: threading.Event) -> tuple[WorkerPool, list]:
    """One worker thread, batches of 10, running ``step(i)``: step 2 waits for ``gate``."""
    registry = TaskRegistry()

    def step(i: int) -> None:
        if i == 2:
            started.set()
            assert gate.wait(10)

    task = declare(step, target=registry, name="tests.step")
    messages = [task.message((i,), {}, _options()) for i in range(5)]
    assert backend.enqueue_many_sync(messages) == 5
    pool = WorkerPool(backend, ["default"], concurrency=1, batch_size=10, lease_seconds=60,
                      poll_interval=0.01, registry=registry)
    return pool, messages


def _options() -> EnqueueOptions:
    return EnqueueOptions()


def test_finished_tasks_are_acknowledged_while_their_batch_mates_still_run(clock):
    backend = SpyBackend(clock=clock)
    gate, started = threading.Event(), threading.Event()
    pool, messages = steps_pool(backend, gate, started)
    pool.start()
    try:
        assert started.wait(10)
        first_two = {messages[0].id, messages[1].id}
        wait_until(lambda: backend.acknowledged == first_two, timeout=10,
                   message=lambda: f"steps 0 and 1 acknowledged (acknowledged: {backend.ack_calls})")
        # The worker is killed now (its lease runs out): another worker gets
        # the unfinished tasks only, not the two that already ran.
        clock.advance(61)
        redelivered = backend.dequeue_sync(10, lease_seconds=60)
        assert sorted(m.id for m in redelivered) == sorted(m.id for m in messages[2:])
    finally:
        pool._stopping.set()
        gate.set()
        pool.stop(10)


def test_a_graceful_stop_sends_the_pending_acknowledgements(clock):
    backend = SpyBackend(clock=clock)
    registry = TaskRegistry()
    task = declare(lambda: None, target=registry, name="tests.quick")
    message = task.message((), {}, _options())
    assert backend.enqueue_sync(message)
    pool = WorkerPool(backend, ["default"], concurrency=1, poll_interval=0.01, registry=registry)
    # A group-commit window longer than any test: only the stop can send it.
    pool._acks.delay = 3600
    pool.start()
    wait_until(lambda: message.id in pool._acks.holding(), timeout=10, message="the task to finish")
    assert backend.acknowledged == set()
    assert pool.stop(10) is True
    assert backend.acknowledged == {message.id}
    assert backend.get_stats_sync().in_flight == 0


def test_a_finished_task_keeps_its_lease_until_it_is_acknowledged(clock):
    backend = SpyBackend(clock=clock)
    backend.acks_open.clear()  # the acknowledgement is slow to arrive
    registry = TaskRegistry()
    task = declare(lambda: None, target=registry, name="tests.quick")
    message = task.message((), {}, _options())
    assert backend.enqueue_sync(message)
    pool = WorkerPool(backend, ["default"], concurrency=1, lease_seconds=60, poll_interval=0.01,
                      registry=registry)
    pool.start()
    try:
        wait_until(lambda: message.id in pool._acks.holding(), timeout=10, message="the task to finish")
        # A lease keeper round near the end of the lease renews it.
        assert pool.renew_leases(now=clock() + 45) is True
        assert backend.extended == [message.id]
        assert not pool.idle
    finally:
        backend.acks_open.set()
        pool.stop(10)
    assert backend.acknowledged == {message.id}
    # Acknowledged: no longer held, so no longer renewed.
    assert pool._held == {}


def test_tasks_finishing_during_an_acknowledgement_go_in_the_next_one():
    calls: list[list[str]] = []
    entered, release = threading.Event(), threading.Event()

    def acknowledge(group: list[TaskMessage]) -> None:
        calls.append([m.id for m in group])
        entered.set()
        assert release.wait(10)

    settled: list[str] = []
    acks = Acknowledger(acknowledge, lambda group: settled.extend(m.id for m in group), delay=0)
    acks.start()
    first, *later = [TaskMessage(name="t", id=f"m{i}") for i in range(4)]
    acks.add(first)
    assert entered.wait(10)
    for message in later:
        acks.add(message)
    assert acks.holding() == {"m0", "m1", "m2", "m3"}
    release.set()
    assert acks.close(10) is True
    assert calls == [["m0"], ["m1", "m2", "m3"]]
    assert settled == ["m0", "m1", "m2", "m3"]
    assert acks.holding() == set()


def test_after_closing_a_late_success_is_acknowledged_at_once():
    calls: list[list[str]] = []
    acks = Acknowledger(lambda group: calls.append([m.id for m in group]), lambda group: None)
    acks.start()
    assert acks.close(10) is True
    acks.add(TaskMessage(name="t", id="late"))
    assert calls == [["late"]]


def test_an_in_process_backend_is_acknowledged_by_the_worker_at_the_end_of_each_batch(clock):
    backend = MemoryBackend(clock=clock)
    assert backend.acknowledges_in_process
    registry = TaskRegistry()
    task = declare(lambda: None, target=registry, name="tests.quick")
    messages = [task.message((), {}, _options()) for _ in range(3)]
    assert backend.enqueue_many_sync(messages) == 3
    pool = WorkerPool(backend, ["default"], concurrency=1, poll_interval=0.01, registry=registry)
    # The grouping thread would hold them for an hour: none goes through it.
    pool._acks.delay = 3600
    pool.start()
    try:
        wait_until(lambda: backend.get_stats_sync().in_flight == 0 and backend.get_queue_size_sync() == 0,
                   timeout=10, message="the tasks to be acknowledged")
        assert pool._acks.holding() == set()
        assert pool._held_messages() == []
    finally:
        assert pool.stop(10) is True
