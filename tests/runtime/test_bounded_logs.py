"""Log lines and stored reasons are bounded: a task name, an id or an error of
megabytes is cut, with its original size stated, and lease losses after an
outage are one summary line, not one line per task."""

from __future__ import annotations

import logging

import pytest

from symphra_django import Scheduler
from symphra_django.backends.memory import MemoryBackend
from symphra_django.messages import TaskMessage
from symphra_django.runtime.worker import WorkerPool
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.utils.text import ERROR_LIMIT, NAME_LIMIT, TRACEBACK_LIMIT, shorten

TEN_MB = 10 * 1024 * 1024
#: No log line or stored reason may come near the size of what it describes.
FEW_KB = 8 * 1024


def burst() -> None:
    Scheduler("default", beat=False, workers=1, poll_interval=0.01).run_burst()


def longest_line(caplog) -> int:
    return max((len(record.getMessage()) for record in caplog.records), default=0)


def test_shorten_keeps_short_text_and_states_the_size_of_long_text():
    assert shorten("short", 10) == "short"
    assert shorten("x" * TEN_MB, 20) == "x" * 20 + "… (10,485,760 chars)"
    cut = shorten("head" + "x" * TEN_MB + "tail", 100, keep_end=True)
    assert cut.startswith("head") and cut.endswith("tail") and "(10,485,768 chars)" in cut
    assert len(cut) < 200


def test_a_ten_megabyte_task_name_is_cut_in_the_log_and_the_failed_store(memory, caplog):
    caplog.set_level(logging.INFO, logger="symphra_django")
    memory.enqueue_sync(TaskMessage(name="n" * TEN_MB))
    burst()
    [failed] = memory.list_failed_sync()
    assert failed.error.startswith("unknown task 'nnnn")
    assert "(10,485,762 chars)" in failed.error  # the repr, quotes included
    assert len(failed.error) < NAME_LIMIT + 200
    [line] = [r.getMessage() for r in caplog.records if "unknown task" in r.getMessage()]
    assert "(10,485,762 chars)" in line
    assert longest_line(caplog) < FEW_KB


def test_a_ten_megabyte_error_is_cut_in_the_log_the_reason_and_the_traceback(memory, caplog):
    caplog.set_level(logging.INFO, logger="symphra_django")
    registry = TaskRegistry()
    scheduler = Scheduler("default", beat=False, workers=1, poll_interval=0.01, registry=registry)

    def huge_error() -> None:
        raise ValueError("e" * TEN_MB)

    scheduler.register_task(huge_error, name="tests.huge_error", retry_policy="no_retry").enqueue()
    scheduler.run_burst()
    [failed] = memory.list_failed_sync()
    assert failed.error.startswith("ValueError: eeee") and "(10,485,772 chars)" in failed.error
    assert len(failed.error) <= ERROR_LIMIT + 50
    # The traceback keeps its beginning and its end (where the error is named).
    assert failed.traceback.startswith("Traceback") and "huge_error" in failed.traceback
    assert "chars) …" in failed.traceback and len(failed.traceback) <= TRACEBACK_LIMIT + 100
    assert longest_line(caplog) < FEW_KB


def test_an_unreadable_stored_entry_is_filed_with_a_bounded_reason(caplog):
    filed: list[str] = []

    class Filing(MemoryBackend):
        def store_unreadable(self, entry, error):
            filed.append(error)

    caplog.set_level(logging.INFO, logger="symphra_django")
    Filing().fail_unreadable(object(), "r" * TEN_MB, queue="q" * TEN_MB, task_id="i" * TEN_MB)
    [error] = filed
    assert error.startswith("corrupt payload: rrrr") and "(10,485,760 chars)" in error
    assert len(error) < ERROR_LIMIT + 100
    [line] = [r.getMessage() for r in caplog.records]
    assert "(10,485,762 chars)" in line  # the id and queue reprs
    assert len(line) < FEW_KB


class LosingBackend(MemoryBackend):
    """Every lease renewal fails: the backend was frozen longer than a lease."""

    def extend_lease_sync(self, task, seconds=None):
        return False


def test_lease_losses_are_one_summary_line_per_keeper_round(caplog, clock):
    backend = LosingBackend(clock=clock)
    backend.enqueue_many_sync([TaskMessage(name="tests.noop", id=f"held-{i:03}") for i in range(128)])
    pool = WorkerPool(backend, ["default"], batch_size=128, lease_seconds=60, registry=TaskRegistry())
    # Claimed by the pool (not started: its threads are not running).
    assert len(pool._claim("default")) == 128
    caplog.set_level(logging.WARNING, logger="symphra_django")

    assert pool.renew_leases(now=clock() + 45) is True

    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("lost the lease of 128 task(s) (held-")
    assert line.endswith("and 123 more): they may run twice")
    # A lost lease is not renewed again: the next round says nothing.
    caplog.clear()
    assert pool.renew_leases(now=clock() + 45) is True
    assert caplog.records == []


class FailingBackend(MemoryBackend):
    def extend_lease_sync(self, task, seconds=None):
        raise ConnectionError("the backend is down")


def test_renewal_errors_are_one_line_per_round_with_the_first_error(caplog, clock):
    backend = FailingBackend(clock=clock)
    backend.enqueue_many_sync([TaskMessage(name="tests.noop", id=f"held-{i}") for i in range(10)])
    pool = WorkerPool(backend, ["default"], batch_size=10, lease_seconds=60, registry=TaskRegistry())
    assert len(pool._claim("default")) == 10
    caplog.set_level(logging.WARNING, logger="symphra_django")
    assert pool.renew_leases(now=clock() + 45) is True
    [record] = caplog.records
    assert record.getMessage().startswith("could not extend the lease of 10 task(s)")
    assert record.exc_info is not None and "the backend is down" in str(record.exc_info[1])


@pytest.mark.parametrize("text", ["", "x" * NAME_LIMIT])
def test_text_within_the_limit_is_unchanged(text):
    assert shorten(text, NAME_LIMIT) == text
