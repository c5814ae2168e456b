"""Lifecycle signals of the native API: what is sent, with which arguments,
on the memory and the database backend; a failing receiver breaks nothing."""

from __future__ import annotations

import logging

import pytest
from django.dispatch import receiver as connect_receiver  # noqa: F401 - the documented way, used in the docs

from symphra_django import Scheduler, signals
from symphra_django.backends import backends
from symphra_django.messages import TaskMessage
from tests.sampleapp import tasks as sample
from tests.support.databases import use_database

ALL = (signals.task_enqueued, signals.task_started, signals.task_succeeded, signals.task_retried,
       signals.task_failed, signals.task_lease_lost)
COMMON = {"signal", "sender", "message", "task", "task_id", "task_name", "queue", "backend", "attempt"}


@pytest.fixture(params=["memory", "database"])
def backend(request, settings):
    if request.param == "database":
        use_database(request, "default")
        settings.SYMPHRA = {"BACKENDS": {"default": {"BACKEND": "database"}}, "QUEUES": ["default", "emails"]}
        yield backends["default"]
        backends.close_all()
    else:
        yield request.getfixturevalue("memory")


@pytest.fixture
def sent():
    """Every signal sent during the test: (signal name, kwargs)."""
    seen: list[tuple[str, dict]] = []

    def record(signal, **kwargs):
        seen.append((signal.name, {"signal": signal, **kwargs}))

    for signal in ALL:
        signal.connect(record, dispatch_uid="test-record")
    yield seen
    for signal in ALL:
        signal.disconnect(dispatch_uid="test-record")


def burst() -> None:
    Scheduler("default", beat=False, workers=1, poll_interval=0.01).run_burst()


def named(seen, name):
    return [kwargs for signal, kwargs in seen if signal == name]


def test_enqueue_sends_task_enqueued_after_storing(backend, sent):
    message = sample.remember.enqueue(1)
    [kwargs] = named(sent, "task_enqueued")
    assert set(kwargs) == COMMON | {"created", "scheduled_time"}
    assert kwargs["sender"] is type(backend)
    assert (kwargs["task_id"], kwargs["task_name"], kwargs["queue"], kwargs["backend"]) == (
        message.id, "tests.sampleapp.tasks.remember", "default", "default")
    assert kwargs["task"] is sample.remember and kwargs["message"] is message
    assert kwargs["attempt"] == 0 and kwargs["created"] is True
    assert kwargs["scheduled_time"] == message.scheduled_time


def test_enqueueing_an_id_already_queued_says_created_false(backend, sent):
    sample.remember.using(task_id="same").enqueue(1)
    sample.remember.using(task_id="same").enqueue(1)
    assert [kwargs["created"] for kwargs in named(sent, "task_enqueued")] == [True, False]


def test_a_success_sends_started_then_succeeded_with_lateness_and_duration(backend, sent, events):
    message = sample.remember.enqueue(1)
    burst()
    assert [name for name, _ in sent] == ["task_enqueued", "task_started", "task_succeeded"]
    [started] = named(sent, "task_started")
    [succeeded] = named(sent, "task_succeeded")
    assert set(started) == COMMON | {"lateness"} and started["lateness"] >= 0
    assert set(succeeded) == COMMON | {"duration"} and succeeded["duration"] >= 0
    assert succeeded["task_id"] == message.id and succeeded["attempt"] == 1
    assert succeeded["task"] is sample.remember


def test_a_retry_then_a_final_failure_send_retried_then_failed(backend, sent, events):
    sample.always_fails.enqueue()  # two runs, no wait between them
    burst()
    [retried] = named(sent, "task_retried")
    assert set(retried) == COMMON | {"duration", "exception", "error", "delay"}
    assert isinstance(retried["exception"], ValueError)
    assert retried["error"] == "ValueError: this task always fails" and retried["attempt"] == 1
    [failed] = named(sent, "task_failed")
    assert set(failed) == COMMON | {"duration", "exception", "error", "traceback", "ran"}
    assert failed["ran"] is True and failed["attempt"] == 2
    assert "Traceback" in failed["traceback"] and isinstance(failed["exception"], ValueError)
    assert [name for name, _ in sent].count("task_started") == 2


def test_an_unknown_task_is_failed_without_running(backend, sent):
    backend.enqueue_sync(TaskMessage(name="no.such.task"))
    burst()
    assert [name for name, _ in sent] == ["task_failed"]
    [failed] = named(sent, "task_failed")
    assert failed["ran"] is False and failed["task"] is None
    assert failed["duration"] is None and failed["exception"] is None
    assert failed["error"].startswith("unknown task 'no.such.task'")


def test_a_lost_lease_sends_task_lease_lost(memory, clock, sent):
    from symphra_django.runtime.worker import WorkerPool

    sample.remember.enqueue(1)
    pool = WorkerPool(memory, ["default"], lease_seconds=10)
    [message] = pool._claim("default")
    clock.advance(11)  # the lease ran out; the backend takes it back
    memory.get_stats_sync()
    pool.renew_leases(now=clock())
    [lost] = named(sent, "task_lease_lost")
    assert lost["task_id"] == message.id and lost["task"] is sample.remember


class Boom(BaseException):
    pass


@pytest.mark.parametrize("error", [ValueError("receiver bug"), SystemExit(3), KeyboardInterrupt(), Boom()])
def test_a_raising_receiver_breaks_neither_the_enqueue_nor_the_worker_nor_the_other_receivers(
    backend, sent, events, caplog, error
):
    def broken(**kwargs):
        raise error

    for signal in ALL:
        signal._failures.clear()  # the log interval of an earlier test's receiver

    for signal in ALL:
        signal.connect(broken, dispatch_uid="test-broken")
    try:
        caplog.set_level(logging.ERROR, "symphra_django.signals")
        sample.remember.enqueue(1)
        sample.remember.enqueue(2)
        burst()
    finally:
        for signal in ALL:
            signal.disconnect(dispatch_uid="test-broken")
    assert sorted(e[1] for e in events) == [1, 2]
    assert backend.get_queue_size_sync() == 0
    # The recording receiver, connected first, and connected after, both ran.
    assert [name for name, _ in sent].count("task_succeeded") == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "symphra_django.signals"]
    assert lines and all("test_signals" in line and type(error).__name__ in line for line in lines)
    # Logged once per receiver and signal within the interval, not per task.
    assert len([line for line in lines if "of task_succeeded" in line]) == 1


def test_with_no_receiver_nothing_is_built_or_sent(memory, events, monkeypatch):
    assert not any(signal.receivers for signal in ALL)

    def never(*args, **kwargs):
        raise AssertionError("emit called without receivers")

    monkeypatch.setattr(signals.TaskSignal, "emit", never)
    sample.remember.enqueue(1)
    sample.always_fails.enqueue()
    burst()
    assert ("remember", 1) in events and ("always_fails",) in events
