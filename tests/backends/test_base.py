"""How the base class derives one side of each method pair from the other,
connects a backend before its first operation, and answers for what a
backend does not implement."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from symphra_django.backends import QueueBackend
from symphra_django.backends.base import OPERATIONS, NotSupported
from symphra_django.messages import TaskMessage


class AsyncOnly(QueueBackend):
    """The required methods, async side only, with a connection to open."""

    def __init__(self, **options):
        super().__init__(**options)
        self.calls: list[str] = []
        self.stored: dict[str, TaskMessage] = {}

    async def connect(self):
        self.calls.append("connect")

    async def disconnect(self):
        self.calls.append("disconnect")

    async def enqueue(self, task, scheduled_time=None, priority=None):
        self.calls.append("enqueue")
        if task.id in self.stored:
            return False
        self.stored[task.id] = task
        return True

    async def dequeue(self, max_items=1, *, queue=None, lease_seconds=None):
        return []

    async def acknowledge(self, task):
        return task.id in self.stored

    async def reject(self, task, requeue=False, *, delay=0.0, error=None, traceback=None):
        return True

    async def get_queue_size(self, queue=None):
        return len(self.stored)

    async def clear(self, queue=None):
        return 0

    async def health_check(self):
        raise ConnectionError("the server went away")


class SyncOnly(QueueBackend):
    """The required methods, sync side only."""

    def __init__(self, **options):
        super().__init__(**options)
        self.connects = 0
        self.stored: list[TaskMessage] = []

    def connect_sync(self):
        self.connects += 1

    def enqueue_sync(self, task, scheduled_time=None, priority=None):
        self.stored.append(task)
        return True

    def dequeue_sync(self, max_items=1, *, queue=None, lease_seconds=None):
        return self.stored[:max_items]

    def acknowledge_sync(self, task):
        return True

    def reject_sync(self, task, requeue=False, *, delay=0.0, error=None, traceback=None):
        return True

    def get_queue_size_sync(self, queue=None):
        return len(self.stored)

    def clear_sync(self, queue=None):
        return 0

    def health_check_sync(self):
        return True


def test_an_async_backend_gets_the_sync_side_and_is_connected_before_its_first_operation():
    backend = AsyncOnly()
    assert not backend.connected
    assert backend.enqueue_sync(TaskMessage(name="t", id="a")) is True
    assert backend.enqueue_sync(TaskMessage(name="t", id="a")) is False
    assert backend.get_queue_size_sync() == 1
    assert backend.calls == ["connect", "enqueue", "enqueue"]
    backend.disconnect_sync()
    assert not backend.connected
    backend.enqueue_sync(TaskMessage(name="t", id="b"))
    assert backend.calls[-3:] == ["disconnect", "connect", "enqueue"]


def test_a_sync_backend_gets_the_async_side_and_is_connected_once():
    backend = SyncOnly()

    async def scenario():
        assert await backend.enqueue(TaskMessage(name="t")) is True
        assert await backend.get_queue_size() == 1
        return await backend.dequeue(5)

    assert len(asyncio.run(scenario())) == 1
    assert backend.connects == 1


def test_bulk_methods_fall_back_to_one_task_at_a_time_on_either_side():
    backend = AsyncOnly()
    tasks = [TaskMessage(name="t", id=i) for i in ("a", "b", "a")]
    assert backend.enqueue_many_sync(tasks) == 2
    assert asyncio.run(backend.acknowledge_many(tasks)) == 3


@pytest.mark.parametrize("backend_class", [AsyncOnly, SyncOnly])
def test_an_optional_method_neither_side_implements_is_not_supported(backend_class):
    backend = backend_class()
    with pytest.raises(NotSupported, match=r"does not support peek\(\)"):
        backend.peek_sync()
    with pytest.raises(NotSupported, match=r"does not support get_stats\(\)"):
        asyncio.run(backend.get_stats())


def test_a_health_check_that_raises_answers_false_on_either_side():
    backend = AsyncOnly()
    assert backend.health_check_sync() is False
    assert asyncio.run(backend.health_check()) is False


def test_a_backend_implementing_neither_side_of_a_required_method_is_refused():
    class NoClear(SyncOnly):
        clear_sync = QueueBackend.clear_sync

    with pytest.raises(TypeError, match=r"must implement clear\(\) or clear_sync\(\)"):
        NoClear()


@pytest.mark.parametrize(("method", "must_accept"), [
    ("def get_queue_size_sync(self): ...", "get_queue_size_sync(self) must accept (self, queue=None)"),
    ("def dequeue_sync(self, count=1): ...",
     "dequeue_sync(self, count=1) must accept (self, max_items=1, *, queue=None, lease_seconds=None)"),
    ("def enqueue_sync(self, task, scheduled_time, priority=0): ...",
     "enqueue_sync(self, task, scheduled_time, priority=0) must accept (self, task, scheduled_time=None, "
     "priority=None)"),
    ("async def clear(self): ...", "clear(self) must accept (self, queue=None)"),
])
def test_a_backend_whose_methods_do_not_take_the_contracts_parameters_is_refused_naming_them(method, must_accept):
    namespace: dict = {}
    exec(method, namespace)  # one method of SyncOnly, written with other parameters
    name = next(key for key in namespace if not key.startswith("__"))
    Mismatched = type("Mismatched", (SyncOnly,), {name: namespace[name]})
    assert Mismatched.contract_mismatches() == [must_accept]
    with pytest.raises(TypeError, match=r"Mismatched does not take the parameters the QueueBackend contract passes: "):
        Mismatched()


def test_methods_with_the_contracts_parameters_or_more_optional_ones_are_accepted():
    class Flexible(SyncOnly):
        def get_queue_size_sync(self, queue=None, *, include_failed=False):
            return 0

        def clear_sync(self, *args, **kwargs):
            return 0

    assert Flexible.contract_mismatches() == []
    assert SyncOnly.contract_mismatches() == AsyncOnly.contract_mismatches() == []


def test_a_naive_scheduled_time_is_refused_saying_to_pass_an_aware_datetime():
    """symphra-scheduler took ``datetime.now()``: a time in no zone."""
    from datetime import datetime

    from symphra_django.backends import MemoryBackend

    backend = MemoryBackend()
    with pytest.raises(ValueError, match=r"^scheduled_time=datetime\.datetime\(2030, 1, 1, 0, 0\) is a naive "
                                         r"datetime: pass an aware datetime, e\.g\. django\.utils\.timezone\.now\(\) "
                                         r"\+ timedelta\(minutes=5\)"):
        backend.enqueue_sync(TaskMessage(name="t"), datetime(2030, 1, 1))
    assert backend.get_queue_size_sync() == 0


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_both_sides_of_a_pair_share_one_signature_and_docstring(name):
    async_side, sync_side = getattr(QueueBackend, name), getattr(QueueBackend, f"{name}_sync")
    assert inspect.iscoroutinefunction(async_side) and not inspect.iscoroutinefunction(sync_side)
    assert inspect.signature(sync_side) == inspect.signature(async_side)
    assert sync_side.__doc__ == async_side.__doc__ and async_side.__doc__
    assert sync_side.__name__ == f"{name}_sync"


def test_a_long_reason_for_an_unreadable_entry_is_cut_and_its_length_stated(caplog):
    import logging

    from symphra_django.backends import MemoryBackend
    from symphra_django.messages import REASON_LENGTH

    caplog.set_level(logging.ERROR, "symphra_django")
    filed = []

    class Filing(MemoryBackend):
        def store_unreadable(self, entry, error):
            filed.append(error)

    reason = "no such header: " + "x" * 100_000
    Filing().fail_unreadable("entry", reason, queue="default", task_id="t" * 10_000)
    [error] = filed
    assert error.startswith("corrupt payload: no such header: xxx")
    assert error.endswith(f"… ({len(reason):,} chars)")  # the one shortening helper's form
    assert len(error) < REASON_LENGTH + 100
    [logged] = caplog.records
    assert len(logged.getMessage()) < 1000
