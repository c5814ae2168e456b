"""Messages the RabbitMQ backend did not publish, written into its work queue
with raw pika as another program would: each ends in the failed store with a
short reason, and the tasks around them are delivered."""

from __future__ import annotations

import json
import threading
import uuid

import pika
import pytest

from symphra_django.messages import TaskMessage
from symphra_django.models import BrokerTask
from tests.conformance.factory_rabbitmq import URL
from tests.support.rabbitmq import rabbit  # noqa: F401 - fixture
from tests.support.waiting import wait_until

pytest.importorskip("pika")


def publish_raw(backend, body: bytes, *, headers: dict | None = None, priority: int | None = None) -> None:
    """Publish straight into the default work queue, confirmed."""
    backend._ensure_queue("default")
    with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            backend.topology.exchange, backend.topology.work_key("default"), body,
            pika.BasicProperties(headers=headers, priority=priority), mandatory=True,
        )


def waiting_in_work_queue(backend) -> int:
    with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
        declared = connection.channel().queue_declare(backend.topology.work_queue("default"), passive=True)
        return declared.method.message_count


def task_body(**changes) -> bytes:
    data = TaskMessage(name="t").to_dict()
    data.update(changes)
    return json.dumps(data).encode()


def forged_headers(task_id: str, **changes) -> dict:
    """Our header names with plausible values, and no ledger row behind them."""
    headers = {
        "x-symphra-token": uuid.uuid4().hex, "x-symphra-id": task_id,
        "x-symphra-due": 0, "x-symphra-priority": 0,
    }
    headers.update(changes)
    return headers


#: name: (body, headers, AMQP priority, a phrase of the reason it is failed with)
BAD_MESSAGES = {
    "forged headers, no ledger row": (
        task_body(id="forged"), forged_headers("forged"), None, "no ledger row for task 'forged'",
    ),
    "forged copy naming a queued task": (
        task_body(id="normal-3"), forged_headers("normal-3"), None, "no ledger row for task 'normal-3'",
    ),
    "no headers at all": (task_body(id="headless"), None, None, "no valid x-symphra-token header"),
    "garbage body": (b"\x00\x01 not json at all", None, None, "not valid JSON"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, forged_headers("deep"), None, "nested too deeply"),
    "huge body": (b'{"v": 1, "name": "' + b"x" * 4_000_000 + b'"', None, None, "not valid JSON"),
    "invalid UTF-8": (b'{"v": 1, "name": "\xff\xfe"}', forged_headers("utf8"), None, "not UTF-8"),
    "priority out of range": (
        task_body(id="loud", priority=10**7), forged_headers("loud", **{"x-symphra-priority": 10**7}), 255,
        "'priority' is outside",
    ),
    "NaN time": (task_body(id="nan").replace(b'"scheduled_time": ', b'"scheduled_time": NaN, "x": '),
                 forged_headers("nan"), None, "'scheduled_time' is not a finite number"),
    "forged one-string header, no ledger row": (
        task_body(id="packed"), {"x-symphra": f"1:{uuid.uuid4().hex}:0:0:{'0' * 32}:packed"}, None,
        "no ledger row for task 'packed'",
    ),
    "malformed one-string header": (
        task_body(id="mangled"), {"x-symphra": "1:not:enough"}, None, "no valid x-symphra-token header",
    ),
    "one-string header of the wrong type": (
        task_body(id="bytes"), {"x-symphra": 7}, None, "no valid x-symphra-token header",
    ),
    "headers of the wrong types": (
        task_body(id="odd"), {"x-symphra-token": 12, "x-symphra-id": b"odd", "x-symphra-due": "soon"}, None,
        "no valid x-symphra-token header",
    ),
}


def drain(backend, expected: int) -> list[str]:
    """Claim and acknowledge until ``expected`` tasks have been delivered."""
    delivered: list[str] = []

    def more() -> bool:
        for task in backend.dequeue_sync(32, lease_seconds=30):
            delivered.append(task.id)
            assert backend.acknowledge_sync(task) is True
        return len(delivered) >= expected

    wait_until(more, timeout=20, message=lambda: f"{expected} normal tasks (got {sorted(delivered)})")
    return delivered


def test_every_bad_message_ends_in_the_failed_store_and_the_tasks_around_them_run(rabbit):
    producer, consumer = rabbit.make(), rabbit.make()
    producer.enqueue_many_sync([TaskMessage(name="t", id=f"normal-{i}") for i in range(10)])
    for body, headers, priority, _reason in BAD_MESSAGES.values():
        publish_raw(producer, body, headers=headers, priority=priority)
    producer.enqueue_many_sync([TaskMessage(name="t", id=f"normal-{i}") for i in range(10, 20)])

    delivered = drain(consumer, 20)

    assert sorted(delivered) == sorted(f"normal-{i}" for i in range(20))
    failed = wait_until(
        lambda: len(consumer.list_failed_sync()) >= len(BAD_MESSAGES) and consumer.list_failed_sync(),
        timeout=10, message="every bad message in the failed store",
    )
    assert len(failed) == len(BAD_MESSAGES)
    errors = [task.error for task in failed]
    for name, (*_, reason) in BAD_MESSAGES.items():
        assert [error for error in errors if reason in error], f"{name}: {reason!r} not in {errors}"
    assert all(len(error) < 400 for error in errors), "reasons stay short, whatever the message"
    # A message naming a real task never fails it, nor takes over its id.
    assert "normal-3" not in {task.id for task in failed}
    assert waiting_in_work_queue(consumer) == 0
    stats = consumer.get_stats_sync()
    assert (stats.ready, stats.in_flight, stats.failed) == (0, 0, len(BAD_MESSAGES))


def test_messages_waiting_in_the_work_queue_are_due_work_until_a_consumer_files_them(rabbit):
    # What runscheduler --burst asks before it stops: raw messages are work.
    backend = rabbit.make()
    publish_raw(backend, b"garbage")
    publish_raw(backend, task_body(id="forged"), headers=forged_headers("forged"))
    assert wait_until(lambda: backend.get_stats_sync().ready == 2, timeout=5, message="2 ready messages")
    assert backend.get_queue_size_sync() == 2

    assert backend.dequeue_sync(10) == []

    stats = backend.get_stats_sync()
    assert (stats.ready, stats.failed) == (0, 2)
    assert backend.get_queue_size_sync() == 0


def test_a_copy_of_a_finished_task_is_dropped_with_a_log_line_not_failed(rabbit, caplog):
    backend = rabbit.make()
    backend.enqueue_sync(TaskMessage(name="t", id="done"))
    [task] = backend.dequeue_sync(1)
    # The copy a reconnection or a retried publish can leave behind.
    token = BrokerTask.objects.get(namespace=backend.topology.namespace, task_id="done").token
    copy = backend.publisher.message(task.copy(attempts=0), token)
    assert backend.acknowledge_sync(task) is True
    backend.publisher.publish([copy])

    with caplog.at_level("INFO", logger="symphra_django"):
        wait_until(lambda: backend.dequeue_sync(1) == [] and waiting_in_work_queue(backend) == 0
                   and any("stale cop" in r.message for r in caplog.records),
                   timeout=5, message="the stale copy to be dropped")

    [line] = [r.message for r in caplog.records if "stale cop" in r.message]
    assert "'done'" in line
    assert backend.list_failed_sync() == []


def test_a_backend_used_again_after_disconnect_reconnects(rabbit):
    backend = rabbit.make()
    backend.enqueue_sync(TaskMessage(name="t", id="first"))
    backend.disconnect_sync()
    outcome: list = []

    def use_again() -> None:
        backend.enqueue_sync(TaskMessage(name="t", id="second", queue="other"))
        outcome.append(wait_until(lambda: backend.dequeue_sync(5, queue="other"), timeout=10,
                                  message="the task enqueued after reconnecting"))

    user = threading.Thread(target=use_again, daemon=True)
    user.start()
    user.join(30)
    assert not user.is_alive(), "the backend deadlocked when used again after disconnect_sync()"
    [[again]] = outcome
    assert again.id == "second"
    # What the broker redelivered after the disconnect is there too.
    [first] = wait_until(lambda: backend.dequeue_sync(5), timeout=10, message="the first task")
    assert first.id == "first"
