"""Declaring tasks and enqueuing them: the public API and its errors."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest
from django.test import override_settings

from symphra_django import RetryPolicy, task
from symphra_django.exceptions import EnqueueError, TaskDeclarationError
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.tasks.base import declare
from tests.sampleapp.tasks import async_remember, remember, send_email


def test_calling_a_task_runs_it_inline(events):
    remember("inline")
    assert events == [("remember", "inline")]


def test_enqueue_stores_a_json_message_on_the_tasks_queue(memory):
    message = send_email.enqueue("a@example.com")
    [got] = memory.dequeue_sync(queue="emails")
    assert (got.id, got.name, got.args, got.queue) == (
        message.id, "tests.sampleapp.tasks.send_email", ["a@example.com"], "emails",
    )
    assert message.created is True


def test_enqueue_options_set_time_priority_queue_and_id(memory):
    at = datetime.now(timezone.utc) + timedelta(minutes=5)
    message = remember.enqueue(1, run_at=at, priority=50, queue="reports", task_id="my-id")
    assert (message.id, message.queue, message.priority) == ("my-id", "reports", 50)
    assert message.scheduled_time == pytest.approx(at.timestamp())
    assert memory.get_status_sync("my-id", "reports") == "delayed"


def test_delay_accepts_seconds_and_timedelta(memory):
    before = time.time()
    assert remember.enqueue(1, delay=30).scheduled_time >= before + 30
    assert remember.enqueue(1, delay=timedelta(minutes=1)).scheduled_time >= before + 60


def test_enqueue_with_a_known_id_is_a_noop(memory):
    assert remember.enqueue(1, task_id="unique").created is True
    assert remember.enqueue(2, task_id="unique").created is False
    assert memory.get_queue_size_sync() == 1


def test_aenqueue_from_async_code(memory):
    message = asyncio.run(async_remember.aenqueue("x"))
    assert memory.get_status_sync(message.id) == "ready"


def test_a_parameter_named_like_an_option_goes_to_the_task(memory):
    @task(name="tests.takes_queue")
    def takes_queue(queue):
        return queue

    try:
        message = takes_queue.enqueue(queue="not-an-option")
        assert message.kwargs == {"queue": "not-an-option"} and message.queue == "default"
        bound = takes_queue.using(queue="emails").enqueue(queue="q")
        assert bound.queue == "emails" and bound.kwargs == {"queue": "q"}
    finally:
        from symphra_django.tasks.registry import registry

        registry.unregister("tests.takes_queue")


def test_non_json_argument_is_refused_naming_the_argument(memory):
    with pytest.raises(EnqueueError, match=r"argument 'when' of task .*remember.* not JSON"):
        remember.enqueue(1, when=datetime.now())
    with pytest.raises(EnqueueError, match="positional argument 0"):
        remember.enqueue(object())
    assert memory.get_queue_size_sync() == 0


def test_naive_run_at_is_refused_under_use_tz(memory):
    with pytest.raises(EnqueueError, match="naive.*aware datetime"):
        remember.enqueue(1, run_at=datetime(2030, 1, 1))


@override_settings(USE_TZ=False, TIME_ZONE="UTC")
def test_naive_run_at_is_local_time_without_use_tz(memory):
    message = remember.enqueue(1, run_at=datetime(2030, 1, 1))
    assert message.scheduled_time == datetime(2030, 1, 1, tzinfo=timezone.utc).timestamp()


def test_unknown_queue_is_refused_listing_the_known_ones(memory):
    with pytest.raises(EnqueueError, match="unknown queue 'emials'.*default.*emails"):
        remember.enqueue(1, queue="emials")


@pytest.mark.parametrize("priority", [101, -101, 1.5, True])
def test_priority_out_of_range_is_refused(memory, priority):
    with pytest.raises(EnqueueError, match="priority"):
        remember.enqueue(1, priority=priority)


def test_run_at_and_delay_together_are_refused(memory):
    with pytest.raises(EnqueueError, match="run_at or delay"):
        remember.enqueue(1, run_at=datetime.now(timezone.utc), delay=1)


def test_duplicate_task_name_is_refused_naming_both_functions():
    registry = TaskRegistry()

    def first(): ...

    def second(): ...

    declare(first, name="same", target=registry)
    with pytest.raises(TaskDeclarationError, match="duplicate task name 'same'.*first.*second"):
        declare(second, name="same", target=registry)


def test_a_task_defined_in_a_function_needs_a_name():
    def outer():
        @task
        def inner(): ...

    with pytest.raises(TaskDeclarationError, match="module level"):
        outer()


def test_bare_and_configured_decorators_declare_tasks():
    registry = TaskRegistry()

    async def fetch(): ...

    declared = declare(fetch, name="t.fetch", queue="emails", priority=5, timeout=3,
                       retry_policy="aggressive", target=registry)
    assert declared.is_async and declared.queue == "emails" and declared.priority == 5
    assert declared.timeout == 3 and declared.policy == RetryPolicy.aggressive()
    assert registry.get("t.fetch") is declared


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"queue": "bad queue!"}, "invalid queue"),
        ({"priority": 500}, "priority 500"),
        ({"timeout": -1}, "timeout must be seconds > 0"),
        ({"retry_policy": "sometimes"}, "unknown retry policy preset 'sometimes'"),
        ({"max_instances": 0}, "max_instances"),
    ],
)
def test_bad_task_options_are_refused_at_declaration(options, message):
    def work(): ...

    with pytest.raises(TaskDeclarationError, match=message):
        declare(work, name="t.work", target=TaskRegistry(), **options)
