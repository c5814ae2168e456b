"""``manage.py movetasks``: pending tasks move with everything they carry,
nothing is lost or duplicated, and an interrupted move can simply be re-run."""

from __future__ import annotations

import time
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from symphra_django.backends import MemoryBackend, QueueBackend, backends
from symphra_django.backends.database.backend import DatabaseBackend
from symphra_django.messages import TaskMessage
from symphra_django.ops.moving import MoveError, move_tasks
from tests.support.services import require

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_URL = "redis://127.0.0.1:6379/0"
NOW = time.time()


def sample_tasks(count: int, queue: str = "default") -> list[TaskMessage]:
    """Ready and delayed tasks with varied priorities and attempts."""
    return [
        TaskMessage(
            name="tests.sampleapp.tasks.remember", args=[i], kwargs={"n": i}, id=f"move-{i}", queue=queue,
            priority=(i % 7) - 3, scheduled_time=NOW + (3600 if i % 4 == 0 else -i / 1000),
            enqueued_at=NOW - 100 + i / 1000, attempts=i % 3, max_attempts=5, meta={"i": i},
        )
        for i in range(count)
    ]


def fill(backend: QueueBackend, tasks: list[TaskMessage]) -> None:
    for start in range(0, len(tasks), 1000):
        backend.enqueue_many_sync([t.copy() for t in tasks[start : start + 1000]])


def everything(backend: QueueBackend, queue: str = "default") -> dict[str, TaskMessage]:
    size = backend.get_queue_size_sync(queue)
    tasks = backend.peek_sync(queue, size + 10)
    assert len(tasks) == size
    return {t.id: t for t in tasks}


def assert_moved_exactly(tasks: list[TaskMessage], target: QueueBackend, source: QueueBackend) -> None:
    moved = everything(target)
    assert len(moved) == len(tasks)
    for original in tasks:
        copy = moved[original.id]
        assert (copy.name, copy.args, copy.kwargs, copy.priority, copy.attempts, copy.max_attempts, copy.meta) == (
            original.name, original.args, original.kwargs, original.priority, original.attempts,
            original.max_attempts, original.meta)
        assert copy.scheduled_time == pytest.approx(original.scheduled_time, abs=0.001)
    assert source.get_queue_size_sync("default") == 0


@pytest.fixture
def memory_backend():
    return MemoryBackend(alias="mem")


@pytest.fixture
def sqlite_backend():
    backend = DatabaseBackend(alias="sqlite")
    backend.connect_sync()
    yield backend
    backend.disconnect_sync()


@pytest.fixture
def redis_backend():
    require("redis")
    from symphra_django.backends.redis.backend import RedisBackend

    prefix = "move" + uuid.uuid4().hex[:8]
    backend = RedisBackend(alias="redis", url=REDIS_URL, key_prefix=prefix)
    backend.connect_sync()
    yield backend
    client = backend._connected()
    keys = list(client.scan_iter(match=f"{{{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    backend.disconnect_sync()


class Interrupted(Exception):
    pass


class FailsAfter:
    """A target that dies after ``batches`` enqueue batches, like a killed move."""

    def __init__(self, backend: QueueBackend, batches: int) -> None:
        self.backend, self.batches = backend, batches

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def enqueue_many_sync(self, tasks):
        if self.batches == 0:
            raise Interrupted
        self.batches -= 1
        return self.backend.enqueue_many_sync(tasks)


def test_memory_to_database_keeps_ids_priorities_times_attempts_and_payload(memory_backend, sqlite_backend):
    tasks = sample_tasks(50)
    fill(memory_backend, tasks)
    [move] = move_tasks(memory_backend, sqlite_backend, ["default"], batch_size=7)
    assert (move.pending, move.copied, move.removed) == (50, 50, 50)
    assert_moved_exactly(tasks, sqlite_backend, memory_backend)


def test_database_to_memory_moves_delayed_tasks_too(memory_backend, sqlite_backend):
    tasks = sample_tasks(20)
    fill(sqlite_backend, tasks)
    move_tasks(sqlite_backend, memory_backend, ["default"])
    stats = memory_backend.get_stats_sync("default")
    assert (stats.ready, stats.delayed) == (15, 5)
    assert_moved_exactly(tasks, memory_backend, sqlite_backend)


def test_a_queue_with_tasks_in_flight_is_refused_and_nothing_moves(memory_backend, sqlite_backend):
    fill(memory_backend, sample_tasks(5))
    memory_backend.dequeue_sync(1)
    with pytest.raises(MoveError, match="1 task\\(s\\) in flight"):
        move_tasks(memory_backend, sqlite_backend, ["default"])
    assert sqlite_backend.get_queue_size_sync("default") == 0
    assert memory_backend.get_queue_size_sync("default") == 5


def test_failed_tasks_stay_at_the_source(memory_backend, sqlite_backend):
    memory_backend.enqueue_sync(TaskMessage(name="noop", id="bad"))
    [leased] = memory_backend.dequeue_sync(1)
    memory_backend.reject_sync(leased, requeue=False, error="boom")
    fill(memory_backend, sample_tasks(3))
    move_tasks(memory_backend, sqlite_backend, ["default"])
    assert [t.id for t in memory_backend.list_failed_sync("default")] == ["bad"]
    assert len(everything(sqlite_backend)) == 3


def test_an_interrupted_move_re_run_neither_loses_nor_duplicates(memory_backend, sqlite_backend):
    tasks = sample_tasks(100)
    fill(memory_backend, tasks)
    with pytest.raises(Interrupted):
        move_tasks(memory_backend, FailsAfter(sqlite_backend, batches=3), ["default"], batch_size=10)
    assert sqlite_backend.get_queue_size_sync("default") == 30
    assert memory_backend.get_queue_size_sync("default") == 100
    [move] = move_tasks(memory_backend, sqlite_backend, ["default"], batch_size=10)
    assert (move.copied, move.already_there) == (70, 30)
    assert_moved_exactly(tasks, sqlite_backend, memory_backend)


def test_sqlite_to_redis_moves_10000_tasks(sqlite_backend, redis_backend):
    tasks = sample_tasks(10_000)
    fill(sqlite_backend, tasks)
    [move] = move_tasks(sqlite_backend, redis_backend, ["default"], batch_size=1000)
    assert (move.pending, move.copied, move.removed) == (10_000, 10_000, 10_000)
    assert_moved_exactly(tasks, redis_backend, sqlite_backend)


def test_redis_to_database_moves_10000_tasks_after_an_interruption(sqlite_backend, redis_backend):
    tasks = sample_tasks(10_000)
    fill(redis_backend, tasks)
    with pytest.raises(Interrupted):
        move_tasks(redis_backend, FailsAfter(sqlite_backend, batches=4), ["default"], batch_size=1000)
    assert sqlite_backend.get_queue_size_sync("default") == 4000
    [move] = move_tasks(redis_backend, sqlite_backend, ["default"], batch_size=1000)
    assert (move.copied, move.already_there, move.removed) == (6000, 4000, 10_000)
    assert_moved_exactly(tasks, sqlite_backend, redis_backend)


TWO_ALIASES = {
    "BACKENDS": {"default": {"BACKEND": "memory"}, "db": {"BACKEND": "database"}},
}


@override_settings(SYMPHRA=TWO_ALIASES)
def test_the_command_prints_progress_and_moves_every_queue_of_the_source():
    fill(backends["default"], sample_tasks(25))
    backends["default"].enqueue_sync(TaskMessage(name="noop", queue="emails"))
    out = StringIO()
    call_command("movetasks", "default", "db", "--batch-size", "10", stdout=out)
    lines = out.getvalue().splitlines()
    assert "default: 10/25 copied" in lines and "default: 20/25 copied" in lines
    assert "default: done, 25 removed at the source" in lines
    assert lines[-1] == "moved 26 task(s) from default to db"
    assert backends["db"].get_queue_size_sync("default") == 25
    assert backends["db"].get_queue_size_sync("emails") == 1


@override_settings(SYMPHRA=TWO_ALIASES)
def test_dry_run_only_counts():
    fill(backends["default"], sample_tasks(5))
    out = StringIO()
    call_command("movetasks", "default", "db", "--dry-run", "--queue", "default", stdout=out)
    assert "default: 5 pending task(s) would move" in out.getvalue()
    assert backends["default"].get_queue_size_sync("default") == 5
    assert backends["db"].get_queue_size_sync("default") == 0


@override_settings(SYMPHRA=TWO_ALIASES)
def test_unknown_alias_is_a_clear_error():
    with pytest.raises(CommandError, match="unknown backend alias 'nope'"):
        call_command("movetasks", "default", "nope")
