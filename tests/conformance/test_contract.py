"""The queue contract C1–C12 (DESIGN.md section 3), for every backend.

Each test takes the ``backend`` fixture, parametrized over
``factories.FACTORIES``; every backend runs on its real server.
"""

from __future__ import annotations

import threading
import time

import pytest

from symphra_django.backends import NotSupported
from symphra_django.exceptions import CorruptPayload
from symphra_django.messages import (
    CRASH_REDELIVERIES,
    DELAYED,
    FAILED,
    IN_FLIGHT,
    READY,
    TaskMessage,
)

LEASE = 1.0


def message(name: str = "tests.noop", **fields) -> TaskMessage:
    return TaskMessage(name=name, **fields)


def drain(backend, queue=None, max_items=100, lease_seconds=None):
    return backend.dequeue_sync(max_items, queue=queue, lease_seconds=lease_seconds)


# C1 ---------------------------------------------------------------------------


def test_enqueued_task_is_visible_to_another_instance_once_enqueue_returns(factory):
    producer = factory.make()
    task = message(args=[1, "two"], kwargs={"three": [3]})
    assert producer.enqueue_sync(task) is True
    consumer = factory.make()
    [got] = drain(consumer)
    assert (got.id, got.name, got.args, got.kwargs) == (task.id, "tests.noop", [1, "two"], {"three": [3]})


def test_async_interface_round_trip(backend):
    import asyncio

    async def scenario():
        task = message()
        assert await backend.enqueue(task) is True
        [got] = await backend.dequeue(1)
        assert got.id == task.id
        assert await backend.acknowledge(got) is True
        return await backend.get_queue_size()

    assert asyncio.run(scenario()) == 0


# C2 ---------------------------------------------------------------------------


def test_enqueue_of_a_queued_id_is_a_noop(backend):
    first = message(id="same-id", args=[1])
    assert backend.enqueue_sync(first) is True
    assert backend.enqueue_sync(message(id="same-id", args=[2])) is False
    [got] = drain(backend)
    assert got.args == [1]
    assert drain(backend) == []


def test_enqueue_of_an_in_flight_id_is_a_noop(backend):
    backend.enqueue_sync(message(id="busy"))
    [got] = drain(backend)
    assert backend.enqueue_sync(message(id="busy")) is False
    assert backend.get_queue_size_sync() == 1
    assert backend.acknowledge_sync(got) is True


def test_an_acknowledged_id_can_be_enqueued_again(backend):
    backend.enqueue_sync(message(id="again"))
    [got] = drain(backend)
    backend.acknowledge_sync(got)
    assert backend.enqueue_sync(message(id="again")) is True
    assert [t.id for t in drain(backend)] == ["again"]


def test_enqueue_many_counts_only_new_ids(backend):
    backend.enqueue_sync(message(id="a"))
    added = backend.enqueue_many_sync([message(id="a"), message(id="b"), message(id="c")])
    assert added == 2
    assert backend.get_queue_size_sync() == 3


# C3 ---------------------------------------------------------------------------


def test_a_task_is_not_handed_out_before_its_time_whatever_its_priority(backend):
    later = time.time() + 1.5
    backend.enqueue_sync(message(id="future-urgent"), later, priority=100)
    backend.enqueue_sync(message(id="now-low"), priority=-100)
    assert [t.id for t in drain(backend)] == ["now-low"]
    assert drain(backend) == []
    while time.time() < later:
        assert drain(backend) == []
        time.sleep(0.2)
    time.sleep(0.3)
    [got] = drain(backend)
    assert got.id == "future-urgent"
    assert time.time() >= got.scheduled_time


def test_seed_style_enqueue_arguments_set_time_and_priority(backend):
    from datetime import datetime, timedelta, timezone

    at = datetime.now(timezone.utc) + timedelta(hours=1)
    task = message()
    backend.enqueue_sync(task, at, 7)
    assert backend.get_status_sync(task.id) == DELAYED
    [peeked] = _peek_or_skip(backend)
    assert peeked.priority == 7
    assert abs(peeked.scheduled_time - at.timestamp()) < 0.01


# C4 ---------------------------------------------------------------------------


def test_due_tasks_come_by_priority_then_time_then_enqueue_order(backend):
    now = time.time()
    backend.enqueue_sync(message(id="p0-old"), now - 10, priority=0)
    backend.enqueue_sync(message(id="p5-new"), now - 1, priority=5)
    backend.enqueue_sync(message(id="p5-old"), now - 5, priority=5)
    backend.enqueue_sync(message(id="p0-new-1"), now - 2, priority=0)
    backend.enqueue_sync(message(id="p0-new-2"), now - 2, priority=0)
    backend.enqueue_sync(message(id="neg"), now - 100, priority=-3)
    order = [t.id for t in drain(backend, max_items=1) + drain(backend, max_items=10)]
    assert order == ["p5-old", "p5-new", "p0-old", "p0-new-1", "p0-new-2", "neg"]


# C5 ---------------------------------------------------------------------------


def test_dequeue_hands_out_at_most_max_items(backend):
    backend.enqueue_many_sync([message() for _ in range(5)])
    assert len(drain(backend, max_items=3)) == 3
    assert len(drain(backend, max_items=3)) == 2


def test_a_leased_task_is_given_to_nobody_else(factory):
    first, second = factory.make(), factory.make()
    first.enqueue_sync(message(id="one"))
    assert len(drain(first)) == 1
    assert drain(second) == []


def test_concurrent_consumers_receive_disjoint_tasks(factory):
    producer = factory.make()
    producer.enqueue_many_sync([message(id=f"t{i}") for i in range(200)])
    seen: list[list[str]] = [[] for _ in range(4)]
    consumers = [factory.make() for _ in range(4)]

    def consume(index: int) -> None:
        backend = consumers[index]
        while True:
            got = backend.dequeue_sync(7, lease_seconds=30)
            if not got:
                return
            seen[index].extend(t.id for t in got)
            backend.acknowledge_many_sync(got)

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    everything = [task_id for ids in seen for task_id in ids]
    assert sorted(everything) == sorted(f"t{i}" for i in range(200))


def test_acknowledge_needs_the_current_lease(backend):
    backend.enqueue_sync(message(id="leased"))
    [got] = drain(backend)
    forged = got.copy()
    forged.lease_token = "not-the-lease"
    assert backend.acknowledge_sync(forged) is False
    assert backend.get_status_sync("leased") == IN_FLIGHT
    assert backend.acknowledge_sync(got) is True
    assert backend.acknowledge_sync(got) is False


def test_a_worker_whose_lease_expired_cannot_ack_the_new_delivery(backend):
    backend.enqueue_sync(message(id="slow", max_attempts=5))
    [stale] = drain(backend, lease_seconds=LEASE)
    time.sleep(LEASE + 0.3)
    [fresh] = drain(backend, lease_seconds=30)
    assert fresh.id == "slow"
    assert backend.acknowledge_sync(stale) is False
    assert backend.reject_sync(stale, requeue=False, error="late") is False
    assert backend.extend_lease_sync(stale, 30) is False
    assert backend.get_status_sync("slow") == IN_FLIGHT
    assert backend.acknowledge_sync(fresh) is True


def test_acknowledge_many_acks_a_batch(backend):
    backend.enqueue_many_sync([message() for _ in range(10)])
    got = drain(backend, max_items=10)
    assert backend.acknowledge_many_sync(got) == 10
    assert backend.get_queue_size_sync() == 0


# C6 ---------------------------------------------------------------------------


def test_an_expired_lease_returns_the_task_with_its_attempt_counted(backend):
    backend.enqueue_sync(message(id="lost", max_attempts=5))
    [first] = drain(backend, lease_seconds=LEASE)
    assert first.attempts == 1
    assert drain(backend) == []
    time.sleep(LEASE + 0.3)
    [again] = drain(backend, lease_seconds=30)
    assert again.id == "lost"
    assert again.attempts == 2


def test_extending_a_lease_keeps_the_task(backend):
    backend.enqueue_sync(message(id="long"))
    [got] = drain(backend, lease_seconds=LEASE)
    for _ in range(3):
        time.sleep(LEASE / 2)
        assert backend.extend_lease_sync(got, LEASE) is True
    assert drain(backend) == []
    assert backend.acknowledge_sync(got) is True


# C7 ---------------------------------------------------------------------------


def test_a_task_whose_lease_keeps_expiring_goes_to_the_failed_store(backend):
    # A task allowed one run gets CRASH_REDELIVERIES more deliveries after
    # lost leases; the lease expiring after the last of them fails it.
    backend.enqueue_sync(message(id="poison", max_attempts=1))
    for delivery in range(1, 1 + 1 + CRASH_REDELIVERIES):
        [got] = drain(backend, lease_seconds=LEASE)
        assert (got.id, got.attempts) == ("poison", delivery)
        time.sleep(LEASE + 0.3)
    assert drain(backend) == []
    assert backend.get_status_sync("poison") == FAILED
    [failed] = backend.list_failed_sync()
    assert failed.id == "poison"
    assert "lease expired 3 time(s)" in failed.error
    assert "limit 3 deliveries: 1 run(s)" in failed.error
    assert backend.get_queue_size_sync() == 0


# C8 ---------------------------------------------------------------------------


def test_reject_with_requeue_puts_the_task_back(backend):
    backend.enqueue_sync(message(id="again", max_attempts=5))
    [got] = drain(backend)
    assert backend.reject_sync(got, requeue=True) is True
    [back] = drain(backend)
    assert back.id == "again"
    assert back.attempts == 2


def test_reject_with_requeue_and_delay_holds_the_task_back(backend):
    backend.enqueue_sync(message(id="later", max_attempts=5))
    [got] = drain(backend)
    assert backend.reject_sync(got, requeue=True, delay=30, error="try later") is True
    assert backend.get_status_sync("later") == DELAYED
    assert drain(backend) == []
    assert backend.get_queue_size_sync() == 1


def test_reject_without_requeue_keeps_the_task_and_its_error_in_the_failed_store(backend):
    backend.enqueue_sync(message(id="broken", args=[42]))
    [got] = drain(backend)
    assert backend.reject_sync(got, error="ValueError: bad", traceback="Traceback ...") is True
    assert backend.get_queue_size_sync() == 0
    stats = backend.get_stats_sync()
    assert stats.failed == 1
    [failed] = backend.list_failed_sync()
    assert (failed.id, failed.args, failed.error, failed.traceback) == (
        "broken", [42], "ValueError: bad", "Traceback ...",
    )


def test_a_failed_task_can_be_retried(backend):
    backend.enqueue_sync(message(id="retry-me"))
    [got] = drain(backend)
    backend.reject_sync(got, error="boom")
    assert backend.retry_failed_sync(["retry-me", "unknown"]) == 1
    assert backend.get_stats_sync().failed == 0
    [again] = drain(backend)
    assert again.id == "retry-me"


def test_a_failed_task_can_be_deleted(backend):
    backend.enqueue_sync(message(id="delete-me"))
    [got] = drain(backend)
    backend.reject_sync(got, error="boom")
    assert backend.delete_failed_sync(["delete-me"]) == 1
    assert backend.list_failed_sync() == []
    assert backend.get_status_sync("delete-me") is None


# C9 ---------------------------------------------------------------------------


def test_named_queues_are_isolated(backend):
    backend.enqueue_sync(message(id="mail", queue="emails"))
    backend.enqueue_sync(message(id="plain"))
    assert [t.id for t in drain(backend, queue="emails")] == ["mail"]
    assert [t.id for t in drain(backend, queue="emails")] == []
    assert [t.id for t in drain(backend, queue="default")] == ["plain"]


# C10 --------------------------------------------------------------------------


def test_queue_size_and_stats_count_each_state(backend):
    now = time.time()
    backend.enqueue_many_sync(
        [message(id=f"r{i}") for i in range(3)]
        + [message(id=f"d{i}", scheduled_time=now + 3600) for i in range(2)]
    )
    [held] = drain(backend, max_items=1)
    [failing] = drain(backend, max_items=1)
    backend.reject_sync(failing, error="x")
    stats = backend.get_stats_sync()
    assert (stats.ready, stats.delayed, stats.in_flight, stats.failed) == (1, 2, 1, 1)
    assert backend.get_queue_size_sync() == 4
    assert backend.get_status_sync("d0") == DELAYED
    assert backend.get_status_sync(held.id) == IN_FLIGHT
    assert backend.get_status_sync("nope") is None


def test_status_of_a_due_task_is_ready(backend):
    backend.enqueue_sync(message(id="due"))
    assert backend.get_status_sync("due") == READY


# C11 --------------------------------------------------------------------------


def test_clear_empties_one_queue_and_nothing_else(backend):
    backend.enqueue_many_sync([message(queue="emails") for _ in range(3)])
    backend.enqueue_sync(message(id="keep"))
    drain(backend, queue="emails", max_items=1)
    assert backend.clear_sync("emails") == 3
    assert backend.get_queue_size_sync("emails") == 0
    assert [t.id for t in drain(backend)] == ["keep"]


def test_health_check_answers_true(backend):
    assert backend.health_check_sync() is True


# C12 --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x80\x04\x95not json at all", "not UTF-8"),
        (b"{\"v\": 1, \"id\": \"\xff\xfe\"}", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"v": 1, "id": "x"}', "payload has no 'name'"),
        (b"[1, 2, 3]", "not a JSON object"),
        (TaskMessage(name="t", id="nan").to_json().replace('"scheduled_time":', '"scheduled_time":NaN,"x":').encode(),
         "'scheduled_time' is not a finite number"),
        (TaskMessage(name="t", id="p", priority=0).to_json().replace('"priority":0', '"priority":101').encode(),
         "'priority' is outside"),
    ],
    ids=["pickle-like", "invalid-utf8-inside-json", "deep-nesting", "missing-fields", "not-an-object",
         "nan-time", "priority-out-of-range"],
)
def test_a_corrupt_payload_goes_to_the_failed_store_with_a_reason_and_its_batch_mates_are_delivered(
    factory, raw, reason
):
    backend = factory.make()
    backend.enqueue_sync(message(id="before"))
    try:
        stored = factory.inject_corrupt(backend, "default", raw)
    except NotImplementedError as exc:
        pytest.skip(str(exc))
    backend.enqueue_sync(message(id="after"))
    # One claim of the whole queue: the unreadable one is filed as failed and
    # its batch-mates are handed out all the same.
    assert sorted(t.id for t in drain(backend)) == ["after", "before"]
    [failed] = backend.list_failed_sync()
    if isinstance(stored, bytes):
        assert reason in failed.error
    if stored is not None:
        # Whatever the backend could store, the reason is the decoder's own.
        with pytest.raises(CorruptPayload) as refused:
            TaskMessage.from_json(stored)
        assert failed.error == f"corrupt payload: {refused.value}"
    else:
        assert failed.error.startswith("corrupt payload: payload field 'meta'")
    assert len(failed.error) < 400
    assert backend.get_queue_size_sync() == 2


def test_payloads_round_trip_as_json_only(backend):
    task = message(args=[{"nested": [1, 2.5, None, True]}], kwargs={"s": "ü"}, meta={"k": "v"})
    backend.enqueue_sync(task)
    [got] = drain(backend)
    assert got.args == task.args and got.kwargs == task.kwargs and got.meta == {"k": "v"}


def _peek_or_skip(backend):
    try:
        return backend.peek_sync()
    except NotSupported as exc:
        pytest.skip(str(exc))


def test_attempts_already_counted_travel_with_the_message(backend):
    # Moving tasks between backends (movetasks) must not reset their attempts.
    backend.enqueue_sync(message(id="moved", attempts=2, max_attempts=5))
    [got] = drain(backend)
    assert got.attempts == 3
