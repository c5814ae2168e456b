"""Redis-specific behaviour on the real server (the contract itself is in tests/conformance)."""

from __future__ import annotations

import time
import uuid

import pytest

from symphra_django.backends.redis.backend import RedisBackend
from symphra_django.backends.redis.keys import queue_keys
from symphra_django.exceptions import BackendUnavailable
from symphra_django.messages import DELAYED, TaskMessage
from tests.support.services import require
from tests.support.waiting import wait_until

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def backend():
    require("redis")
    prefix = "t" + uuid.uuid4().hex[:10]
    made = RedisBackend(url=URL, key_prefix=prefix)
    made.connect_sync()
    yield made
    client = made._connected()
    keys = list(client.scan_iter(match=f"{{{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    made.disconnect_sync()


def test_a_high_priority_task_scheduled_in_an_hour_is_not_handed_out_now(backend):
    backend.enqueue_sync(TaskMessage(name="t", id="urgent-later"), time.time() + 3600, priority=100)
    backend.enqueue_sync(TaskMessage(name="t", id="low-now"), priority=-100)
    assert [t.id for t in backend.dequeue_sync(10)] == ["low-now"]
    assert backend.get_status_sync("urgent-later") == DELAYED


def test_time_order_holds_for_times_ten_microseconds_apart(backend):
    # (An epoch float itself only resolves ~0.25 µs, hence not 1 µs.)
    base = time.time() - 1
    backend.enqueue_sync(TaskMessage(name="t", id="second"), base + 0.00002, priority=3)
    backend.enqueue_sync(TaskMessage(name="t", id="first"), base + 0.00001, priority=3)
    assert [t.id for t in backend.dequeue_sync(2)] == ["first", "second"]


def test_every_key_of_a_queue_shares_one_hash_tag(backend):
    backend.enqueue_sync(TaskMessage(name="t", queue="mail"))
    [got] = backend.dequeue_sync(1, queue="mail")
    backend.reject_sync(got, error="x")
    keys = {k.decode() for k in backend._connected().scan_iter(match=f"{{{backend.key_prefix}:*")}
    assert keys <= set(queue_keys(backend.key_prefix, "mail"))
    assert all(k.startswith(f"{{{backend.key_prefix}:mail}}:") for k in keys)


def test_in_flight_tasks_are_scored_by_lease_deadline(backend):
    backend.enqueue_sync(TaskMessage(name="t", id="leased"))
    [got] = backend.dequeue_sync(1, lease_seconds=120)
    leases = queue_keys(backend.key_prefix, "default")[4]
    assert backend._connected().zscore(leases, "leased") == pytest.approx(got.lease_expires)
    assert got.lease_expires == pytest.approx(time.time() + 120, abs=2)


def test_one_claim_call_leases_a_whole_batch_in_one_round_trip(backend):
    backend.enqueue_many_sync([TaskMessage(name="t") for _ in range(40)])
    calls = []
    connection = backend._connection
    run = connection.run_script
    connection.run_script = lambda name, *rest: calls.append(name) or run(name, *rest)
    assert len(backend.dequeue_sync(32)) == 32
    assert calls == ["claim"]


def test_queues_lists_queues_with_pending_or_failed_tasks(backend):
    backend.enqueue_sync(TaskMessage(name="t", queue="alpha"))
    backend.enqueue_sync(TaskMessage(name="t", queue="beta"))
    [got] = backend.dequeue_sync(1, queue="beta")
    backend.reject_sync(got, error="x")
    assert backend.queues_sync() == ["alpha", "beta"]


def test_oldest_due_is_the_earliest_due_time_whatever_the_priority(backend):
    now = time.time()
    backend.enqueue_sync(TaskMessage(name="t"), now - 50, priority=9)
    backend.enqueue_sync(TaskMessage(name="t"), now - 300, priority=-2)
    backend.enqueue_sync(TaskMessage(name="t"), now - 10, priority=0)
    backend.enqueue_sync(TaskMessage(name="t"), now + 600, priority=0)
    assert backend.get_stats_sync().oldest_due == pytest.approx(now - 300, abs=1e-3)


def test_a_corrupt_failed_record_is_listed_not_raised(backend):
    failed = queue_keys(backend.key_prefix, "default")[7:9]
    client = backend._connected()
    client.hset(failed[0], "odd", b"\xff not json")
    client.zadd(failed[1], {"odd": time.time()})
    [listed] = backend.list_failed_sync()
    assert listed.id == "odd" and "corrupt payload" in listed.error


def test_priority_outside_the_encodable_range_is_refused(backend):
    with pytest.raises(ValueError, match="priority"):
        backend.enqueue_sync(TaskMessage(name="t", priority=10**9))


def test_an_unreachable_server_at_start_is_a_clear_error_after_bounded_retries(caplog):
    from symphra_django.runtime.scheduler import connect_backend

    down = RedisBackend(url="redis://:topsecret@127.0.0.1:1/0", socket_timeout=0.5)
    with pytest.raises(BackendUnavailable, match=r"after 3 attempt\(s\)") as info:
        connect_backend(down, retries=2)
    assert "cannot reach Redis at redis://:***@127.0.0.1:1/0" in str(info.value)
    assert "topsecret" not in str(info.value) and "***" in str(info.value)
    assert "topsecret" not in caplog.text
    assert down.health_check_sync() is False


def test_a_listener_is_woken_when_a_due_task_is_enqueued(backend):
    import threading

    event = threading.Event()
    backend.add_listener(event)
    try:
        other = RedisBackend(url=URL, key_prefix=backend.key_prefix)

        def heard() -> bool:
            other.enqueue_sync(TaskMessage(name="t"))
            return event.wait(0.2)

        # The subscription starts in the background: enqueue until it is heard.
        wait_until(heard, timeout=5, interval=0, message="the listener to hear an enqueue")
        event.clear()
        other.enqueue_sync(TaskMessage(name="t"), time.time() + 3600)
        assert not event.wait(0.3), "a task due in an hour wakes nobody now"
        other.disconnect_sync()
    finally:
        backend.remove_listener(event)


def test_a_delayed_task_wakes_a_listener_when_it_falls_due_without_a_claim_in_between(backend):
    import threading

    event = threading.Event()
    backend.add_listener(event)
    try:
        wait_until(lambda: backend.wakes_workers, timeout=5, message="the wake-up subscription")
        other = RedisBackend(url=URL, key_prefix=backend.key_prefix)
        event.clear()
        other.enqueue_sync(TaskMessage(name="t", id="later"), time.time() + 0.6)
        assert not event.wait(0.3), "woken before the task is due"
        assert event.wait(3), "not woken when it fell due"
        assert [t.id for t in backend.dequeue_sync(1)] == ["later"]
        other.disconnect_sync()
    finally:
        backend.remove_listener(event)


def test_workers_may_sleep_until_woken_only_while_the_wake_up_subscription_is_live(backend):
    import threading

    assert backend.wakes_workers is False  # nobody listens yet: no subscription
    event = threading.Event()
    backend.add_listener(event)
    try:
        wait_until(lambda: backend.wakes_workers, timeout=5, message="the wake-up subscription")
    finally:
        backend.remove_listener(event)
    backend.disconnect_sync()
    assert backend.wakes_workers is False

    # A server that cannot be reached: no subscription, so workers poll.
    down = RedisBackend(url="redis://127.0.0.1:1/0", socket_timeout=0.2)
    down.add_listener(event)
    try:
        time.sleep(0.5)
        assert down.wakes_workers is False
    finally:
        down.remove_listener(event)
        down.disconnect_sync()


def test_an_idle_listener_is_woken_when_the_next_delayed_task_falls_due(backend):
    import threading

    event = threading.Event()
    backend.add_listener(event)
    try:
        backend.enqueue_sync(TaskMessage(name="t", id="soon"), time.time() + 0.4)
        assert backend.dequeue_sync(1) == []
        event.clear()
        assert event.wait(3)
        assert [t.id for t in backend.dequeue_sync(1)] == ["soon"]
    finally:
        backend.remove_listener(event)


def test_peek_shows_the_next_tasks_with_their_delivery_count(backend):
    backend.enqueue_sync(TaskMessage(name="t", id="again", max_attempts=5))
    [got] = backend.dequeue_sync(1)
    backend.reject_sync(got, requeue=True)
    backend.enqueue_sync(TaskMessage(name="t", id="later"), time.time() + 60)
    peeked = backend.peek_sync()
    assert [(t.id, t.attempts) for t in peeked] == [("again", 1), ("later", 0)]
    assert backend.get_stats_sync().in_flight == 0


def test_a_task_enqueued_with_attempts_counts_on_from_them(backend):
    backend.enqueue_sync(TaskMessage(name="t", id="moved", attempts=2, max_attempts=5))
    [got] = backend.dequeue_sync(1)
    assert got.attempts == 3


def test_a_script_the_server_does_not_know_is_loaded_and_run(backend):
    # As after a restart, SCRIPT FLUSH or a failover (without flushing a
    # server other tests share): the EVALSHA misses, the script is loaded.
    script = backend._connection.scripts["enqueue"]
    real = script.sha
    script.sha = "0" * 40
    assert backend.enqueue_sync(TaskMessage(name="t", id="reloaded"))
    assert script.sha == real
    assert [task.id for task in backend.dequeue_sync(1)] == ["reloaded"]
