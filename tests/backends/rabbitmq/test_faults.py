"""The RabbitMQ backend against a broker restarted under it (``rabbitmqctl``)."""

from __future__ import annotations

import logging
import time

import pytest

from symphra_django.messages import TaskMessage

from tests.support.rabbitmq import rabbit, restartable_broker  # noqa: F401 - fixtures
from tests.support.waiting import wait_until

pytest.importorskip("pika")
pytestmark = pytest.mark.slow


def drain_all(backend, expected: int, timeout: float) -> list[TaskMessage]:
    seen: list[TaskMessage] = []

    def all_seen() -> bool:
        got = backend.dequeue_sync(32, lease_seconds=30)
        seen.extend(got)
        backend.acknowledge_many_sync(got)
        return len({t.id for t in seen}) >= expected

    wait_until(all_seen, timeout=timeout,
               message=lambda: f"{expected} tasks (got {sorted({t.id for t in seen})})")
    return seen


def test_a_broker_restart_mid_run_loses_no_task_and_logs_one_masked_line(rabbit, restartable_broker, caplog):
    caplog.set_level(logging.WARNING, logger="symphra_django")
    backend = rabbit.make(max_attempts=5)
    backend.enqueue_many_sync([TaskMessage(name="t", id=f"before{i}", max_attempts=5) for i in range(20)])
    in_flight = backend.dequeue_sync(5, lease_seconds=1)
    assert len(in_flight) == 5

    restartable_broker.stop()
    time.sleep(1.5)
    restartable_broker.start()
    wait_until(backend.health_check_sync, timeout=30, message="the backend to reconnect")
    # Leases from before the restart have run out: their acks are refused,
    # and acking a dead channel's deliveries must not break the new one.
    assert backend.acknowledge_many_sync(in_flight) == 0
    backend.enqueue_many_sync([TaskMessage(name="t", id=f"after{i}") for i in range(5)])

    seen = drain_all(backend, expected=25, timeout=30)
    expected = {f"before{i}" for i in range(20)} | {f"after{i}" for i in range(5)}
    assert {t.id for t in seen} == expected

    def empty() -> bool:
        # Copies the broker kept from before the restart wait in the work
        # queue (and count as ready) until a consumer reads them: each is
        # dropped as stale, never delivered again.
        again = backend.dequeue_sync(32, lease_seconds=30)
        assert again == [], f"delivered twice: {[t.id for t in again]}"
        return backend.get_queue_size_sync() == 0

    wait_until(empty, timeout=10, message=lambda: f"an empty queue (stats now {backend.get_stats_sync().to_dict()})")
    lost = [r for r in caplog.records if "lost the connection" in r.getMessage()]
    assert len(lost) == 1
    assert "guest:***@127.0.0.1" in lost[0].getMessage()
    assert not any("guest:guest" in r.getMessage() for r in caplog.records)


def test_a_delayed_task_survives_a_broker_restart_and_is_not_delivered_early(rabbit, restartable_broker):
    backend = rabbit.make()
    due = time.time() + 6
    backend.enqueue_sync(TaskMessage(name="t", id="timer"), due)
    restartable_broker.stop()
    restartable_broker.start()
    wait_until(backend.health_check_sync, timeout=30, message="the backend to reconnect")
    [task] = wait_until(lambda: backend.dequeue_sync(1), timeout=20, message="the delayed task")
    assert task.id == "timer"
    assert time.time() >= due
