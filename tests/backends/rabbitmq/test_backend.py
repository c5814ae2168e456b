"""The RabbitMQ backend beyond the shared contract: configuration, priorities,
dead consumers and poison messages, on the real broker."""

from __future__ import annotations

import importlib
import sys
import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from symphra_django.backends.handler import build_backend
from symphra_django.exceptions import BackendUnavailable
from symphra_django.messages import CRASH_REDELIVERIES, FAILED, TaskMessage

from tests.support.rabbitmq import rabbit  # noqa: F401 - fixture
from tests.support.waiting import wait_until

pytest.importorskip("pika")


def test_a_missing_pika_says_which_extra_to_install(monkeypatch):
    monkeypatch.delitem(sys.modules, "symphra_django.backends.rabbitmq.backend", raising=False)
    monkeypatch.setitem(sys.modules, "pika", None)
    with pytest.raises(ImproperlyConfigured, match=r"needs the 'pika' package, which is not installed: "
                                                   r"pip install 'symphra-django\[rabbitmq\]'"):
        importlib.import_module("symphra_django.backends.rabbitmq.backend")


def test_the_short_name_builds_the_backend_with_its_options():
    backend = build_backend("jobs", {
        "BACKEND": "rabbitmq",
        "OPTIONS": {"url": "amqp://u:secret@broker:5672/app", "exchange_name": "jobs", "max_priority": 5},
    })
    assert type(backend).__name__ == "RabbitMQBackend"
    assert backend.topology.max_priority == 5
    assert "secret" not in backend.describe() and "u:***@broker" in backend.describe()


@pytest.mark.parametrize("options, message", [
    ({"max_priority": 300}, "max_priority"),
    ({"url": "http://u:secret@host/"}, "amqp://"),
    ({"exchange_name": "bad name"}, "exchange_name"),
    ({"prefetch": 0}, "prefetch"),
])
def test_bad_options_are_improperly_configured(options, message):
    with pytest.raises(ImproperlyConfigured, match=message) as info:
        build_backend("jobs", {"BACKEND": "rabbitmq", "OPTIONS": options})
    assert "secret" not in str(info.value)


def test_an_unreachable_broker_at_start_is_a_clear_error_after_bounded_retries():
    from symphra_django.backends.rabbitmq.backend import RabbitMQBackend
    from symphra_django.runtime.scheduler import connect_backend

    backend = RabbitMQBackend(url="amqp://guest:s3cret@127.0.0.1:5999/%2F")
    with pytest.raises(BackendUnavailable) as info:
        connect_backend(backend, retries=2)
    text = str(info.value)
    assert "127.0.0.1:5999" in text and "3 attempt" in text
    assert "s3cret" not in text and "guest:***@" in text


def test_the_broker_priority_puts_urgent_work_ahead_of_a_backlog(rabbit):
    backend = rabbit.make(prefetch=2)
    backend.enqueue_many_sync([TaskMessage(name="t", id=f"low{i}", priority=-100) for i in range(20)])
    backend.enqueue_sync(TaskMessage(name="t", id="urgent", priority=100))
    [first] = backend.dequeue_sync(1)
    assert first.id == "urgent"


def take_all_one_by_one(backend, count: int) -> list[str]:
    taken: list[str] = []
    while len(taken) < count:
        [task] = wait_until(lambda: backend.dequeue_sync(1), timeout=10, message=f"task {len(taken) + 1}")
        assert backend.acknowledge_sync(task) is True
        taken.append(task.id)
    return taken


def test_a_backlog_larger_than_the_prefetch_window_comes_in_exact_order(rabbit):
    # Priorities in distinct broker levels: the broker sends a backlog's
    # higher ones first, the inbox orders each window exactly.
    producer = rabbit.make()
    for priority in (0, -1, 5, 1, 20):
        producer.enqueue_many_sync([TaskMessage(name="t", id=f"p{priority}-{i}", priority=priority) for i in range(6)])
    order = take_all_one_by_one(rabbit.make(prefetch=4), 30)
    assert order == [f"p{priority}-{i}" for priority in (20, 5, 1, 0, -1) for i in range(6)]


def test_beyond_the_window_a_higher_priority_waits_only_behind_what_was_prefetched(rabbit):
    prefetch = 8
    producer, consumer = rabbit.make(), rabbit.make(prefetch=prefetch)
    producer.enqueue_many_sync([TaskMessage(name="t", id=f"low-{i}", priority=0) for i in range(40)])
    [first] = consumer.dequeue_sync(1)  # the window is full of priority-0 tasks
    assert consumer.acknowledge_sync(first) is True
    producer.enqueue_many_sync([TaskMessage(name="t", id=f"high-{i}", priority=5) for i in range(5)])
    order = take_all_one_by_one(consumer, 44)
    last_high = max(order.index(f"high-{i}") for i in range(5))
    assert [o for o in order if o.startswith("high")] == [f"high-{i}" for i in range(5)]
    assert sum(o.startswith("low") for o in order[:last_high]) <= prefetch


def test_a_health_check_answers_true_when_connected(rabbit):
    assert rabbit.make().health_check_sync() is True


def _consumer_dies_holding(rabbit, task: TaskMessage):
    doomed = rabbit.make()
    doomed.enqueue_sync(task)
    [held] = doomed.dequeue_sync(1, lease_seconds=1.0)
    doomed._stopping.set()  # its lease keeper dies with it
    doomed.disconnect_sync()  # the connection closes without an ack
    return held


def test_a_dead_consumers_task_comes_back_with_the_lost_attempt_counted(rabbit):
    held = _consumer_dies_holding(rabbit, TaskMessage(name="t", id="orphan", max_attempts=3))
    survivor = rabbit.make()
    [again] = wait_until(lambda: survivor.dequeue_sync(1, lease_seconds=30), timeout=5,
                         message="the dead consumer's task to come back")
    assert again.id == "orphan"
    assert again.attempts == held.attempts + 1 == 2
    assert time.time() >= held.lease_expires  # not before the dead lease ran out
    assert survivor.acknowledge_sync(again) is True


def test_a_poison_message_whose_first_consumer_dies_is_delivered_again(rabbit):
    _consumer_dies_holding(rabbit, TaskMessage(name="t", id="poison", max_attempts=1))
    survivor = rabbit.make()
    [again] = wait_until(lambda: survivor.dequeue_sync(1, lease_seconds=30), timeout=5,
                         message="the task to be delivered again")
    # One run allowed, but a lost delivery is not the task's failure.
    assert (again.id, again.attempts, again.max_attempts) == ("poison", 2, 1)


def test_a_poison_message_that_kills_its_consumers_ends_in_the_failed_queue(rabbit):
    # A task allowed one run is delivered twice more after lost consumers;
    # the third consumer dying sends it to the failed queue.
    _consumer_dies_holding(rabbit, TaskMessage(name="t", id="poison", max_attempts=1))
    for delivery in range(2, 1 + 1 + CRASH_REDELIVERIES):
        doomed = rabbit.make()
        got = wait_until(lambda: doomed.dequeue_sync(1, lease_seconds=1.0), timeout=8,
                         message=f"delivery {delivery} of the poison message")
        assert got, (delivery, doomed.get_status_sync("poison"), doomed.list_failed_sync())
        [held] = got
        assert (held.id, held.attempts) == ("poison", delivery)
        doomed._stopping.set()
        doomed.disconnect_sync()
    survivor = rabbit.make()
    assert wait_until(lambda: survivor.dequeue_sync(1) or survivor.get_status_sync("poison") == FAILED,
                      timeout=5, message="the poison message to be failed") is True
    [failed] = survivor.list_failed_sync()
    assert failed.id == "poison" and "lease expired 3 time(s)" in failed.error
    assert survivor.get_queue_size_sync() == 0


def test_a_rejected_task_waits_in_the_delay_ladder_not_in_worker_memory(rabbit):
    backend = rabbit.make()
    backend.enqueue_sync(TaskMessage(name="t", id="later", max_attempts=3))
    [got] = backend.dequeue_sync(1)
    backend.reject_sync(got, requeue=True, delay=0.5)
    assert backend.dequeue_sync(1) == []
    [again] = wait_until(lambda: backend.dequeue_sync(1), timeout=5, message="the rejected task to come back")
    assert again.id == "later" and time.time() >= again.scheduled_time


def test_a_retried_failed_task_runs_again_and_leaves_the_failed_queue(rabbit):
    backend = rabbit.make()
    backend.enqueue_sync(TaskMessage(name="t", id="flaky"))
    [got] = backend.dequeue_sync(1)
    backend.reject_sync(got, error="boom")
    assert backend.enqueue_sync(TaskMessage(name="t", id="flaky")) is True  # a failed id may come back
    assert backend.list_failed_sync() == []  # the old failure is superseded
    [again] = backend.dequeue_sync(1)
    assert again.id == "flaky"


def test_an_enqueue_inside_a_transaction_is_published_at_commit(rabbit):
    from django.db import transaction

    producer, consumer = rabbit.make(), rabbit.make()
    with transaction.atomic():
        assert producer.enqueue_sync(TaskMessage(name="t", id="committed")) is True
        assert consumer.dequeue_sync(1) == []
    [got] = wait_until(lambda: consumer.dequeue_sync(1), timeout=5, message="the committed task")
    assert got.id == "committed"


def test_an_enqueue_inside_a_rolled_back_transaction_leaves_nothing(rabbit):
    from django.db import transaction

    backend = rabbit.make()
    with pytest.raises(RuntimeError), transaction.atomic():
        backend.enqueue_sync(TaskMessage(name="t", id="rolled-back"))
        raise RuntimeError("the view failed")
    assert backend.get_queue_size_sync() == 0
    assert backend.dequeue_sync(1) == []
    assert backend.enqueue_sync(TaskMessage(name="t", id="rolled-back")) is True


def test_a_delivery_wakes_the_idle_workers_listener(rabbit):
    import threading

    backend = rabbit.make()
    event = threading.Event()
    backend.add_listener(event)
    try:
        assert backend.dequeue_sync(1) == []  # consuming now, and idle
        event.clear()
        rabbit.make().enqueue_sync(TaskMessage(name="t", id="now"))
        assert event.wait(5)
        assert [t.id for t in backend.dequeue_sync(1)] == ["now"]
    finally:
        backend.remove_listener(event)


def test_a_delayed_task_wakes_the_listener_when_it_comes_out_of_the_ladder(rabbit):
    import threading

    backend = rabbit.make()
    event = threading.Event()
    backend.add_listener(event)
    try:
        assert backend.dequeue_sync(1) == []
        event.clear()
        backend.enqueue_sync(TaskMessage(name="t", id="soon"), time.time() + 0.5)
        assert not event.wait(0.3), "nothing is due yet"
        assert event.wait(5)
        assert [t.id for t in backend.dequeue_sync(1)] == ["soon"]
    finally:
        backend.remove_listener(event)


def test_an_empty_inbox_asks_the_ledger_once_per_quiet_period_even_while_tasks_are_due(rabbit, monkeypatch):
    backend = rabbit.make()
    assert backend.dequeue_sync(1) == []  # consuming now
    asked = []
    # Due somewhere, never delivered here (another consumer holds it).
    monkeypatch.setattr(backend.ledger, "due_count", lambda queue, now: asked.append(queue) or 1)
    backend._inboxes[backend.default_queue].quiet_until = 0.0
    assert backend.dequeue_sync(1) == []
    assert backend.dequeue_sync(1) == []
    assert asked == [backend.default_queue]


def test_a_publish_from_this_process_makes_the_next_claim_ask_the_ledger_again(rabbit):
    backend = rabbit.make()
    assert backend.dequeue_sync(1) == []  # consuming, and the queue is quiet now
    backend.enqueue_sync(TaskMessage(name="t", id="mine"))
    assert [t.id for t in backend.dequeue_sync(1)] == ["mine"]


def test_a_lone_delivery_is_handed_out_at_once_a_burst_is_waited_for():
    from pika.spec import BasicProperties

    from symphra_django.backends.rabbitmq.inbox import Delivery, Inbox

    def delivery(tag: int) -> Delivery:
        return Delivery.of(1, tag, BasicProperties(headers={}), b"{}")

    inbox = Inbox()
    inbox.put(delivery(1))
    assert not inbox.streaming(0.002), "the first delivery came alone"
    time.sleep(0.01)
    inbox.put(delivery(2))
    assert not inbox.streaming(0.002), "10 ms after the one before: alone"
    inbox.put(delivery(3))
    assert inbox.streaming(0.002), "right after the one before: a burst"
    time.sleep(0.01)
    assert not inbox.streaming(0.002), "the burst is over"


def test_browsing_the_failed_store_while_a_task_is_being_failed_keeps_its_failed_copy(rabbit):
    # The failed copy is published before the ledger row says FAILED; an
    # operator listing failed tasks in between must not take it for a stale
    # copy and remove it.
    backend = rabbit.make()
    backend.enqueue_sync(TaskMessage(name="t", id="doomed"))
    [held] = wait_until(lambda: backend.dequeue_sync(1), timeout=5, message="the task to be delivered")
    seen_in_between = []
    real_fail = backend.ledger.fail

    def fail_after_a_browse(queue, task_id, claim):
        seen_in_between.append([t.id for t in backend.list_failed_sync()])
        return real_fail(queue, task_id, claim)

    backend.ledger.fail = fail_after_a_browse
    assert backend.reject_sync(held, requeue=False, error="boom") is True
    assert seen_in_between == [[]]  # not listed yet: its row is not failed yet
    [failed] = backend.list_failed_sync()
    assert (failed.id, failed.error) == ("doomed", "boom")
