"""Per-minute done/failed counts: counted in memory, flushed in batches."""

from __future__ import annotations

import logging
import threading

import pytest

from symphra_django import Scheduler
from symphra_django.runtime.ticks import DatabaseLedger
from symphra_django.models import ThroughputMinute
from symphra_django.runtime.throughput import ThroughputRecorder, minute_start, per_minute
from tests.sampleapp import tasks as sample

pytestmark = pytest.mark.django_db
MINUTE = 1_800_000_000.0  # a minute boundary


def test_recording_writes_nothing_until_a_flush():
    recorder = ThroughputRecorder("default")
    recorder.record("default", ok=True, at=MINUTE)
    assert ThroughputMinute.objects.count() == 0


def test_a_flush_writes_one_row_per_queue_and_minute():
    recorder = ThroughputRecorder("default")
    for i in range(5):
        recorder.record("default", ok=True, at=MINUTE + i)
    recorder.record("default", ok=False, at=MINUTE + 3)
    recorder.record("default", ok=True, at=MINUTE + 61)
    recorder.record("emails", ok=True, at=MINUTE)
    recorder.flush()
    rows = {(r.queue, r.minute.timestamp()): (r.done, r.failed) for r in ThroughputMinute.objects.all()}
    assert rows == {("default", MINUTE): (5, 1), ("default", MINUTE + 60): (1, 0), ("emails", MINUTE): (1, 0)}


def test_later_flushes_add_to_the_minute_row():
    recorder = ThroughputRecorder("default")
    recorder.record("default", ok=True, at=MINUTE)
    recorder.flush()
    ThroughputRecorder("default").record("default", ok=True, at=MINUTE)
    other = ThroughputRecorder("default")
    other.record("default", ok=False, at=MINUTE + 1)
    other.flush()
    row = ThroughputMinute.objects.get()
    assert (row.done, row.failed) == (1, 1)


def test_per_minute_gives_the_last_hour_with_zeros_oldest_first():
    recorder = ThroughputRecorder("a")
    recorder.record("default", ok=True, at=MINUTE + 10)
    recorder.flush()
    recorder = ThroughputRecorder("b")
    recorder.record("default", ok=False, at=MINUTE + 20)
    recorder.flush()
    series = per_minute(60, now=MINUTE + 30)
    assert len(series) == 60
    assert series[-1] == (minute_start(MINUTE), 1, 1)
    assert all(done == failed == 0 for _, done, failed in series[:-1])


@pytest.mark.django_db(transaction=True)
def test_the_scheduler_feeds_the_recorder_from_its_workers(memory, events):
    for i in range(3):
        sample.remember.enqueue(i)
    sample.always_fails.using(task_id="bad").enqueue()
    scheduler = Scheduler(memory, beat=False, ledger=DatabaseLedger(), workers=2)
    scheduler.run_burst()
    totals = [(r.done, r.failed) for r in ThroughputMinute.objects.all()]
    assert sum(d for d, _ in totals) == 3
    assert sum(f for _, f in totals) == 2  # two attempts of always_fails


def test_prune_deletes_rows_older_than_a_day_only():
    from symphra_django.runtime.throughput import prune

    recorder = ThroughputRecorder("default")
    recorder.record("default", ok=True, at=MINUTE - 25 * 3600)
    recorder.record("default", ok=True, at=MINUTE - 3600)
    recorder.flush()
    assert prune(now=MINUTE) == 1
    assert [r.minute.timestamp() for r in ThroughputMinute.objects.all()] == [MINUTE - 3600]


def test_stopping_does_not_wait_past_its_timeout_for_a_flush_stuck_on_the_database(caplog):
    entered, release = threading.Event(), threading.Event()
    recorder = ThroughputRecorder("default", flush_interval=0.01)

    def stuck_flush() -> None:  # a flush waiting for a lock
        entered.set()
        release.wait(30)

    recorder.flush = stuck_flush
    recorder.start()
    try:
        assert entered.wait(10)
        with caplog.at_level(logging.WARNING, "symphra_django.throughput"):
            recorder.stop(timeout=0.05)
        assert recorder._thread is not None and recorder._thread.is_alive()
        assert "not waiting" in caplog.text
    finally:
        release.set()
