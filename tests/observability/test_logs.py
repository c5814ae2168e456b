"""Structured logs: a task's start, finish, retry and failure lines carry
its id, name, queue, attempt and duration as ``extra`` fields, which the
JSON formatter writes out."""

from __future__ import annotations

import json
import logging

from symphra_django import Scheduler
from symphra_django.logging import JSONFormatter
from symphra_django.messages import TaskMessage
from tests.sampleapp import tasks as sample

FIELDS = ("task_id", "task_name", "queue", "attempt", "duration")


def burst() -> None:
    Scheduler("default", beat=False, workers=1, poll_interval=0.01).run_burst()


def task_lines(caplog):
    return [r for r in caplog.records if r.name == "symphra_django.worker" and hasattr(r, "task_id")]


def test_start_and_finish_lines_at_debug_carry_the_task_fields(memory, events, caplog):
    caplog.set_level(logging.DEBUG, "symphra_django")
    message = sample.send_email.enqueue("a@example.com")
    burst()
    started, finished = task_lines(caplog)
    assert started.levelno == finished.levelno == logging.DEBUG
    assert "started" in started.getMessage() and "succeeded" in finished.getMessage()
    for record in (started, finished):
        assert (record.task_id, record.task_name, record.queue, record.attempt) == (
            message.id, "tests.sampleapp.tasks.send_email", "emails", 1)
    assert started.duration is None and finished.duration >= 0


def test_retry_and_failure_lines_carry_the_fields_and_the_run_time(memory, events, caplog):
    caplog.set_level(logging.WARNING, "symphra_django")
    message = sample.always_fails.enqueue()
    burst()
    retried, failed = task_lines(caplog)
    assert (retried.levelno, failed.levelno) == (logging.WARNING, logging.ERROR)
    assert (retried.attempt, failed.attempt) == (1, 2)
    assert retried.task_id == failed.task_id == message.id
    assert retried.duration >= 0 and failed.duration >= 0


def test_a_task_that_cannot_run_is_logged_with_its_fields_bounded(memory, caplog):
    caplog.set_level(logging.WARNING, "symphra_django")
    memory.enqueue_sync(TaskMessage(name="n" * 100_000, id="i" * 50_000))
    burst()
    [record] = task_lines(caplog)
    assert record.duration is None and record.attempt == 1
    assert len(record.task_name) < 300 and len(record.task_id) < 300
    assert len(record.getMessage()) < 8 * 1024


def test_with_debug_off_no_start_or_finish_line_is_built(memory, events, caplog):
    caplog.set_level(logging.INFO, "symphra_django")
    sample.remember.enqueue(1)
    burst()
    assert task_lines(caplog) == []


def test_the_json_formatter_writes_the_extra_fields(memory, events, caplog):
    caplog.set_level(logging.DEBUG, "symphra_django")
    message = sample.remember.enqueue(1)
    burst()
    [_, finished] = task_lines(caplog)
    entry = json.loads(JSONFormatter().format(finished))
    assert entry["level"] == "DEBUG" and entry["logger"] == "symphra_django.worker"
    assert entry["message"] == finished.getMessage()
    assert {key: entry[key] for key in FIELDS[:4]} == {
        "task_id": message.id, "task_name": "tests.sampleapp.tasks.remember", "queue": "default", "attempt": 1}
    assert isinstance(entry["duration"], float)
    assert entry["time"].endswith("+00:00")


def test_the_json_formatter_writes_exceptions_and_values_json_cannot_hold():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info())
    record.when = object()
    entry = json.loads(JSONFormatter().format(record))
    assert entry["message"] == "failed here"
    assert "ValueError: boom" in entry["exception"]
    assert entry["when"].startswith("<object object")
