"""Task code cannot end a worker thread: whatever a task raises, ``BaseException``
included, is that task's failure (with its traceback), and the same thread
goes on to the next task."""

from __future__ import annotations

import asyncio
import threading

import pytest

from symphra_django import RetryPolicy, Scheduler
from symphra_django.tasks.registry import TaskRegistry


class Custom(BaseException):
    """A BaseException of the task's own, as some libraries define."""


def raise_kind(kind: str) -> None:
    """Raise the BaseException named ``kind`` as task code would."""
    if kind == "KeyboardInterrupt":
        raise KeyboardInterrupt("pressed by the task")
    if kind == "SystemExit":
        exit_now()
    if kind == "GeneratorExit":
        raise GeneratorExit("closed by the task")
    raise Custom("a custom BaseException")


def exit_now() -> None:
    import sys

    sys.exit("exit by the task")


KINDS = ["Custom", "GeneratorExit", "KeyboardInterrupt", "SystemExit"]


class Tasks:
    """A registry of its own, with what ran (task name, argument, thread)."""

    def __init__(self) -> None:
        self.registry = TaskRegistry()
        self.ran: list[tuple[str, object, str]] = []
        self.scheduler = Scheduler("default", beat=False, workers=1, batch_size=1, poll_interval=0.01,
                                   registry=self.registry)

    def add(self, func, **options):
        return self.scheduler.register_task(func, **options)

    def note(self, name: str, value: object = None) -> None:
        self.ran.append((name, value, threading.current_thread().name))

    def burst(self) -> None:
        self.scheduler.run_burst()


@pytest.fixture
def tasks(memory) -> Tasks:
    return Tasks()


@pytest.mark.parametrize("kind", KINDS)
def test_a_task_raising_a_base_exception_is_failed_and_the_thread_runs_the_next_tasks(tasks, memory, kind):
    def misbehave() -> None:
        tasks.note("misbehave")
        raise_kind(kind)

    def after(i: int) -> None:
        tasks.note("after", i)

    bad = tasks.add(misbehave, name="tests.misbehave")  # default policy: 3 runs, retry_on=Exception
    good = tasks.add(after, name="tests.after")
    message = bad.enqueue()
    for i in range(3):
        good.enqueue(i)
    tasks.burst()

    # Failed at once: a BaseException that is not an Exception is not retried
    # unless the policy's retry_on names it.
    [failed] = memory.list_failed_sync()
    assert failed.id == message.id
    assert failed.error.startswith(f"{kind}: ")
    assert "Traceback" in failed.traceback and "misbehave" in failed.traceback
    # The one worker thread (--workers 1) ran the next tasks.
    assert [(name, value) for name, value, _ in tasks.ran] == [("misbehave", None), ("after", 0),
                                                                ("after", 1), ("after", 2)]
    assert len({thread for _, _, thread in tasks.ran}) == 1
    totals = tasks.scheduler.get_stats()["totals"]
    assert (totals["failures"], totals["successes"], totals["retries"]) == (1, 3, 0)


def test_a_base_exception_is_retried_when_the_policy_names_it(tasks, memory):
    def interrupted() -> None:
        tasks.note("interrupted")
        raise KeyboardInterrupt("again")

    task = tasks.add(interrupted, name="tests.interrupted",
                     retry_policy=RetryPolicy(max_attempts=2, strategy="none", retry_on=(KeyboardInterrupt,)))
    task.enqueue()
    tasks.burst()
    assert [name for name, _, _ in tasks.ran] == ["interrupted", "interrupted"]
    [failed] = memory.list_failed_sync()
    assert failed.error == "KeyboardInterrupt: again"


def test_a_sync_task_with_a_timeout_raising_system_exit_is_failed(tasks, memory):
    def exits() -> None:
        exit_now()

    tasks.add(exits, name="tests.exits", timeout=5, retry_policy="no_retry").enqueue()
    tasks.add(lambda: tasks.note("next"), name="tests.next").enqueue()
    tasks.burst()
    [failed] = memory.list_failed_sync()
    assert failed.error == "SystemExit: exit by the task"
    assert [name for name, _, _ in tasks.ran] == ["next"]


@pytest.mark.parametrize("timeout", [None, 5.0], ids=["no-timeout", "timeout"])
@pytest.mark.parametrize("kind", ["CancelledError", "KeyboardInterrupt", "SystemExit"])
def test_an_async_task_raising_a_base_exception_is_failed_and_the_loop_runs_the_next(tasks, memory, kind, timeout):
    async def misbehave() -> None:
        await asyncio.sleep(0)
        tasks.note("misbehave")
        if kind == "CancelledError":
            raise asyncio.CancelledError("cancelled by the task")
        if kind == "SystemExit":
            exit_now()
        raise KeyboardInterrupt("pressed by the task")

    async def after(i: int) -> None:
        await asyncio.sleep(0)
        tasks.note("after", i)

    message = tasks.add(misbehave, name="tests.async_misbehave", timeout=timeout).enqueue()
    good = tasks.add(after, name="tests.async_after", timeout=timeout)
    for i in range(2):
        good.enqueue(i)
    tasks.burst()

    [failed] = memory.list_failed_sync()
    assert failed.id == message.id
    assert failed.error.startswith(f"{kind}: ")
    assert "misbehave" in failed.traceback
    assert [(name, value) for name, value, _ in tasks.ran] == [("misbehave", None), ("after", 0), ("after", 1)]
    assert len({thread for _, _, thread in tasks.ran}) == 1


def test_an_exception_whose_str_fails_is_still_recorded(tasks, memory):
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    def raises() -> None:
        raise Unprintable()

    tasks.add(raises, name="tests.unprintable", retry_policy="no_retry").enqueue()
    tasks.burst()
    [failed] = memory.list_failed_sync()
    assert failed.error.startswith("Unprintable: ")


def test_an_async_task_whose_own_subtask_raises_keyboard_interrupt_is_failed(tasks, memory):
    async def interrupted_subtask() -> None:
        raise KeyboardInterrupt("from a subtask")

    async def misbehave() -> None:
        tasks.note("misbehave")
        await asyncio.get_running_loop().create_task(interrupted_subtask())

    async def after() -> None:
        await asyncio.sleep(0)
        tasks.note("after")

    tasks.add(misbehave, name="tests.subtask_misbehave").enqueue()
    tasks.add(after, name="tests.subtask_after").enqueue()
    tasks.burst()
    [failed] = memory.list_failed_sync()
    assert failed.error == "KeyboardInterrupt: from a subtask"
    # The loop that KeyboardInterrupt left half-run was replaced.
    assert [name for name, _, _ in tasks.ran] == ["misbehave", "after"]
