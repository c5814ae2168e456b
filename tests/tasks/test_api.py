"""Declaring tasks and enqueuing them: the public API and its errors."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

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


def test_enqueue_many_stores_every_call_in_one_backend_call(memory, monkeypatch):
    calls = []
    original = type(memory).enqueue_many_sync
    monkeypatch.setattr(type(memory), "enqueue_many_sync",
                        lambda self, tasks: calls.append(len(tasks)) or original(self, tasks))
    messages = send_email.enqueue_many([("a@example.com",), ["b@example.com"], {"address": "c@example.com"}])
    assert calls == [3]
    got = memory.dequeue_sync(10, queue="emails")
    assert [(m.args, m.kwargs) for m in got] == [
        (["a@example.com"], {}), (["b@example.com"], {}), ([], {"address": "c@example.com"}),
    ]
    assert [m.id for m in messages] == [m.id for m in got]
    assert all(m.created is None for m in messages)


def test_enqueue_many_options_apply_to_every_call(memory):
    messages = remember.enqueue_many([(1,), (2,)], priority=50, queue="reports", delay=60)
    assert {(m.priority, m.queue) for m in messages} == {(50, "reports")}
    assert all(memory.get_status_sync(m.id, "reports") == "delayed" for m in messages)
    bound = remember.using(priority=-5).enqueue_many([(3,)])
    assert bound[0].priority == -5


def test_enqueue_many_checks_every_call_before_storing_any(memory):
    with pytest.raises(EnqueueError, match=r"positional argument 0 of task .* is not JSON"):
        remember.enqueue_many([(1,), (object(),)])
    with pytest.raises(EnqueueError, match=r"call 1 of enqueue_many .* is a str; pass a tuple"):
        remember.enqueue_many([(1,), "2"])
    with pytest.raises(EnqueueError, match=r"ids are per call"):
        remember.enqueue_many([(1,)], task_id="x")
    with pytest.raises(EnqueueError, match=r"'prioritty'"):
        remember.enqueue_many([(1,)], prioritty=5)
    assert memory.get_queue_size_sync() == 0
    assert remember.enqueue_many([]) == []


def test_aenqueue_many_from_async_code(memory):
    messages = asyncio.run(async_remember.aenqueue_many([("x",), ("y",)]))
    assert [memory.get_status_sync(m.id) for m in messages] == ["ready", "ready"]


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


@pytest.mark.parametrize(("value", "hint"), [
    (datetime(2030, 1, 1, tzinfo=timezone.utc),
     "pass it as an ISO 8601 string, value.isoformat(), which the task reads back with datetime.fromisoformat(), "
     "or as epoch seconds, value.timestamp()"),
    (date(2030, 1, 1), "pass it as an ISO 8601 string, value.isoformat(), which the task reads back with "
                       "date.fromisoformat()"),
    (timedelta(minutes=5), "pass its seconds (value.total_seconds())"),
    (Decimal("9.99"), "pass it as a string (str(value); the task reads it back with Decimal(text))"),
    (uuid.UUID(int=1), "pass it as a string (str(value); the task reads it back with UUID(text))"),
    ({1, 2}, "pass a list (sorted(value))"),
    (b"raw", "pass text (value.decode()) or base64 (base64.b64encode(value).decode())"),
    (float("nan"), "pass plain data: str, int, float (not NaN or infinity), bool, None, and lists and dicts"),
])
def test_a_non_json_argument_is_refused_with_what_to_pass_instead(memory, value, hint):
    with pytest.raises(EnqueueError) as raised:
        remember.enqueue({"nested": [value]})
    assert str(raised.value).startswith("positional argument 0 of task 'tests.sampleapp.tasks.remember' is not "
                                        "JSON-serialisable (")
    assert hint in str(raised.value)


@pytest.mark.django_db
def test_a_model_instance_is_refused_with_a_hint_to_pass_its_pk(memory, django_user_model):
    user = django_user_model.objects.create(username="ada")
    with pytest.raises(EnqueueError, match=r"pass the instance's pk \(instance\.pk\) and load it in the task"):
        remember.enqueue(user)


def test_naive_run_at_is_refused_under_use_tz(memory):
    with pytest.raises(EnqueueError, match=r"run_at=datetime\.datetime\(2030, 1, 1, 0, 0\) is a naive datetime and "
                                           r"USE_TZ is True: pass an aware datetime, e\.g\. django\.utils\.timezone"):
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


def test_a_task_of_a_module_outside_the_installed_apps_warns_at_its_first_enqueue(memory, caplog):
    from symphra_django.tasks.registry import registry

    def orphan() -> None: ...

    orphan.__module__ = "scripts.jobs"  # a module of no installed app: runscheduler would not import it
    declared = declare(orphan, name="scripts.jobs.orphan")
    try:
        with caplog.at_level(logging.WARNING, logger="symphra_django.tasks"):
            declared.enqueue()
            declared.enqueue()
    finally:
        registry.unregister(declared.name)
    [warning] = [r.getMessage() for r in caplog.records if r.name == "symphra_django.tasks"]
    assert warning.startswith("task scripts.jobs.orphan is declared in module 'scripts.jobs', which belongs to no "
                              "app in INSTALLED_APPS: runscheduler will not know it")
    assert "Add its app to INSTALLED_APPS" in warning
    assert memory.get_queue_size_sync() == 2  # still enqueued: an installed app may import the module


def test_a_task_of_an_installed_app_enqueues_without_a_warning(memory, caplog):
    with caplog.at_level(logging.WARNING, logger="symphra_django.tasks"):
        remember.enqueue(1)
    assert not [r for r in caplog.records if r.name == "symphra_django.tasks"]


def test_declaring_a_task_without_the_app_installed_says_to_add_it():
    from django.core.exceptions import ImproperlyConfigured

    def job() -> None: ...

    with override_settings(INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"]):
        with pytest.raises(ImproperlyConfigured, match=r"^'symphra_django' is not in INSTALLED_APPS: add it there\."):
            declare(job, name="t.job")
    # A Scheduler of one's own (symphra-scheduler style) keeps its own registry.
    declare(job, name="t.job", target=TaskRegistry())
