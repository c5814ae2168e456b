"""What the base class gives a backend that only lists its failed store:
searching, paging, acting on every match and showing one task, in bounded
memory (symphra_django.backends.failed_store)."""

from __future__ import annotations

import asyncio

import pytest

from symphra_django.backends import FailedQuery, NotSupported, QueueBackend
from symphra_django.backends.failed_store import SCAN_CHUNK, error_kind
from symphra_django.messages import TaskMessage


class ListingOnly(QueueBackend):
    """A failed store of N tasks behind the async ``list_failed``, ``retry_failed``
    and ``delete_failed`` only (newest first), recording each read."""

    def __init__(self, failed: list[TaskMessage], **options) -> None:
        super().__init__(**options)
        self.failed = failed  # newest first
        self.reads: list[tuple[int, int]] = []
        self.retried: list[str] = []

    async def enqueue(self, task, scheduled_time=None, priority=None):
        return True

    async def dequeue(self, max_items=1, *, queue=None, lease_seconds=None):
        return []

    async def acknowledge(self, task):
        return False

    async def reject(self, task, requeue=False, *, delay=0.0, error=None, traceback=None):
        return False

    async def get_queue_size(self, queue=None):
        return 0

    async def clear(self, queue=None):
        return 0

    async def health_check(self):
        return True

    async def list_failed(self, queue=None, limit=100, offset=0):
        self.reads.append((offset, limit))
        return self.failed[offset : offset + limit]

    async def retry_failed(self, task_ids, queue=None):
        ids = set(task_ids)
        self.retried += sorted(ids)
        before = len(self.failed)
        self.failed = [t for t in self.failed if t.id not in ids]
        return before - len(self.failed)

    async def delete_failed(self, task_ids, queue=None):
        return await self.retry_failed(task_ids, queue)


NOW = 1_800_000_000.0


def store(count: int, every: float = 60.0) -> ListingOnly:
    """``count`` failed tasks, one a minute back from NOW: even ones ValueError, odd ones KeyError."""
    return ListingOnly([
        TaskMessage(name="app.even" if i % 2 == 0 else "app.odd", id=f"t{i:05}",
                    error="ValueError: bad" if i % 2 == 0 else "KeyError: 'k'", meta={"failed_at": NOW - i * every})
        for i in range(count)
    ])


def test_error_kind_is_the_exception_class_or_the_kind_of_failure():
    assert error_kind("ValueError: bad input") == "ValueError"
    assert error_kind("requests.exceptions.HTTPError: 500") == "requests.exceptions.HTTPError"
    assert error_kind("TaskTimeout") == "TaskTimeout"
    assert error_kind("lease expired 3 time(s) without an acknowledgement") == "lease expired"
    assert error_kind("corrupt payload: payload has no 'name'") == "corrupt payload"
    assert error_kind("unknown task 'x': no task of that name") == "unknown task"
    assert error_kind("something went wrong") is None
    assert error_kind(None) is None and error_kind("") is None


def test_an_unfiltered_page_is_one_read_whatever_the_store_size():
    backend = store(10_000)
    backend.get_stats_sync = lambda queue=None: type("Stats", (), {"failed": 10_000})()
    page = backend.find_failed_sync(None, None, 100, 9_900)
    assert (page.total, page.tasks[0].id, len(page.tasks)) == (10_000, "t09900", 100)
    assert backend.reads == [(9_900, 100)]


def test_a_filtered_page_reads_in_chunks_and_holds_only_the_page():
    backend = store(10_000)
    page = backend.find_failed_sync(None, FailedQuery(error_kind="KeyError"), 3, 4_000)
    assert page.total == 5_000
    assert [t.id for t in page.tasks] == ["t08001", "t08003", "t08005"]
    assert all(limit == SCAN_CHUNK for _, limit in backend.reads)
    assert len(backend.reads) == 10_000 // SCAN_CHUNK + 1


def test_a_failed_at_range_stops_reading_once_past_its_start():
    backend = store(10_000)
    page = backend.find_failed_sync(None, FailedQuery(failed_since=NOW - 3600), 100, 0)
    assert page.total == 61  # the last hour, both ends included
    assert len(backend.reads) == 1, "older tasks are not read"


def test_the_async_side_gives_the_same_answers():
    backend = store(50)
    page = asyncio.run(backend.find_failed(None, FailedQuery(task_name="app.odd"), 5, 0))
    assert (page.total, [t.id for t in page.tasks][:2]) == (25, ["t00001", "t00003"])


def test_retry_and_delete_where_act_on_every_match_in_batches():
    backend = store(2_000)
    assert backend.retry_failed_where_sync(None, FailedQuery(search="KEYERROR")) == 1_000
    assert len(backend.failed) == 1_000 and all(t.name == "app.even" for t in backend.failed)
    assert backend.delete_failed_where_sync(None, FailedQuery(failed_until=NOW - 999 * 60)) == 500
    assert len(backend.failed) == 500


def test_one_failed_task_is_found_and_a_waiting_one_is_honestly_unsupported():
    backend = store(1_000)
    task = backend.get_task_sync("t00777")
    assert task is not None and task.id == "t00777"
    with pytest.raises(NotSupported, match="waiting task"):
        backend.get_task_sync("not-failed")


def test_a_stored_time_that_is_not_a_time_matches_no_range():
    backend = ListingOnly([TaskMessage(name="x", id="odd", meta={"failed_at": "yesterday"})])
    assert backend.find_failed_sync(None, FailedQuery(failed_since=0)).total == 0
    assert backend.find_failed_sync(None, FailedQuery(search="odd")).total == 1
