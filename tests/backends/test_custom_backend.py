"""A custom backend written for symphra-scheduler's async interface plugs in through
settings and runs tasks, with the sync side derived by the base class."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.test import override_settings

from symphra_django import Scheduler
from symphra_django.backends import QueueBackend, backends
from tests.sampleapp.tasks import remember


class AsyncOnlyBackend(QueueBackend):
    """Like symphra-scheduler's "Custom Backend" example: async methods only, a dict store."""

    def __init__(self, **options):
        super().__init__(**options)
        self.store = {}
        self.leased = {}
        self.lock = asyncio.Lock()

    async def enqueue(self, task, scheduled_time=None, priority=None):
        self.prepare(task, scheduled_time, priority)
        if task.id in self.store or task.id in self.leased:
            return False
        self.store[task.id] = task
        return True

    async def dequeue(self, max_items=1, *, queue=None, lease_seconds=None):
        now = time.time()
        due = sorted(
            (t for t in self.store.values() if t.queue == self.queue_for(queue) and t.scheduled_time <= now),
            key=lambda t: (-t.priority, t.scheduled_time),
        )[:max_items]
        for task in due:
            del self.store[task.id]
            task.attempts += 1
            task.lease_token = f"lease-{task.id}-{task.attempts}"
            self.leased[task.id] = task
        return due

    async def acknowledge(self, task):
        return self.leased.pop(task.id, None) is not None

    async def reject(self, task, requeue=False, *, delay=0.0, error=None, traceback=None):
        self.leased.pop(task.id, None)
        if requeue:
            task.scheduled_time = time.time() + delay
            self.store[task.id] = task
        return True

    async def get_queue_size(self, queue=None):
        return sum(t.queue == self.queue_for(queue) for t in [*self.store.values(), *self.leased.values()])

    async def clear(self, queue=None):
        self.store.clear()
        return 0

    async def health_check(self):
        return True


class SchedulerExampleBackend(AsyncOnlyBackend):
    """symphra-scheduler's example, as written for it: one queue per backend,
    so ``get_queue_size`` and ``clear`` take no queue."""

    async def get_queue_size(self):
        return len(self.store) + len(self.leased)

    async def clear(self):
        self.store.clear()
        return 0


SCHEDULER_EXAMPLE = {"BACKENDS": {"default": {"BACKEND": "tests.backends.test_custom_backend.SchedulerExampleBackend"}}}


class Incomplete(QueueBackend):
    async def enqueue(self, task, scheduled_time=None, priority=None):
        return True


def test_a_backend_missing_required_methods_is_refused_naming_them():
    with pytest.raises(TypeError, match=r"must implement dequeue\(\) or dequeue_sync\(\), acknowledge"):
        Incomplete()


@pytest.mark.django_db  # a shared backend: the scheduler keeps its tick ledger and counts in the database
@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "tests.backends.test_custom_backend.AsyncOnlyBackend"}}})
def test_an_async_only_backend_runs_tasks_through_settings(events):
    try:
        for i in range(5):
            remember.enqueue(i)
        backend = backends["default"]
        assert isinstance(backend, AsyncOnlyBackend)
        assert backend.get_queue_size_sync() == 5
        Scheduler("default", beat=False, poll_interval=0.01).run_burst()
        assert sorted(e[1] for e in events) == [0, 1, 2, 3, 4]
        assert backend.get_queue_size_sync() == 0
    finally:
        backends.close_all()


def test_a_sync_backend_gets_the_async_interface_for_free(memory):
    async def scenario():
        message = remember.message([1], {}, remember.using().options)
        assert await memory.enqueue(message) is True
        return await memory.get_stats()

    assert asyncio.run(scenario()).ready == 1


def test_a_backend_written_for_symphra_scheduler_is_refused_by_the_checks_naming_the_methods_to_change():
    from django.core.checks import run_checks

    with override_settings(SYMPHRA=SCHEDULER_EXAMPLE):
        [error] = [m for m in run_checks(tags=["symphra"]) if m.id == "symphra_django.E008"]
    assert error.msg == (
        "settings.SYMPHRA['BACKENDS']['default']['BACKEND'] is "
        "tests.backends.test_custom_backend.SchedulerExampleBackend, whose methods do not take the parameters the "
        "QueueBackend contract passes: get_queue_size(self) must accept (self, queue=None); "
        "clear(self) must accept (self, queue=None)."
    )
    assert "docs/custom-backends.md" in error.hint


def test_a_backend_written_for_symphra_scheduler_is_refused_before_it_runs_anything():
    from django.core.exceptions import ImproperlyConfigured

    with override_settings(SYMPHRA=SCHEDULER_EXAMPLE), pytest.raises(
        ImproperlyConfigured, match=r"get_queue_size\(self\) must accept \(self, queue=None\)"
    ):
        remember.enqueue(1)
    with pytest.raises(TypeError, match=r"get_queue_size\(self\) must accept \(self, queue=None\)"):
        Scheduler(SchedulerExampleBackend())
