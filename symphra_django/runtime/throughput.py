"""Per-minute counts of finished tasks, recorded by workers for the admin chart.

The worker's hot path only bumps a counter in memory under a lock; a
background thread adds the counts to :class:`~symphra_django.models.ThroughputMinute`
every ``flush_interval`` seconds (one UPDATE or INSERT per alias, queue and
minute touched since the last flush). Counts of a failed flush are kept and
added again at the next one, so a database hiccup delays the chart instead of
losing its numbers. Rows older than ``RETENTION`` are deleted now and then, so
the table stays small (the chart shows one hour).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import F, Sum

logger = logging.getLogger("symphra_django.throughput")

DONE, FAILED = "done", "failed"
#: Seconds of per-minute rows kept, and how often old ones are deleted.
RETENTION = 24 * 3600.0


def minute_start(ts: float) -> datetime:
    """The start of the minute holding ``ts``, in UTC (naive without USE_TZ,
    as Django stores datetimes then)."""
    value = datetime.fromtimestamp(ts - ts % 60, tz=UTC)
    return value if settings.USE_TZ else value.replace(tzinfo=None)


class ThroughputRecorder:
    """Counts outcomes of one backend alias in memory, flushes them periodically."""

    def __init__(self, alias: str, *, flush_interval: float = 5.0) -> None:
        self.alias = alias
        self.flush_interval = flush_interval
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, float, str]] = Counter()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, queue: str, ok: bool, at: float | None = None) -> None:
        """Count one finished run (the worker's hot path: no I/O)."""
        ts = time.time() if at is None else at
        key = (queue, ts - ts % 60, DONE if ok else FAILED)
        with self._lock:
            self._counts[key] += 1

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="symphra-throughput", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the flush thread and write what is still counted. A flush
        still waiting on the database after ``timeout`` seconds is left to
        finish on its own (the thread is a daemon): the chart may then miss
        the counts of that flush, the process does not wait for it."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("throughput counts are still being written after %.1f s; not waiting "
                               "for them", timeout)
                return
            self._thread = None
        self.flush()

    def _loop(self) -> None:
        # Old rows are pruned by symphra_django.runtime.housekeeping.
        while not self._stopping.wait(self.flush_interval):
            self.flush()
            close_old_connections()

    def flush(self) -> None:
        """Add the counts so far to the table; keeps them for later on error."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        if not counts:
            return
        rows: dict[tuple[str, float], dict[str, int]] = {}
        for (queue, minute, outcome), n in counts.items():
            rows.setdefault((queue, minute), {DONE: 0, FAILED: 0})[outcome] += n
        try:
            for (queue, minute), added in rows.items():
                _add(self.alias, queue, minute_start(minute), added[DONE], added[FAILED])
        except Exception:
            logger.warning("could not write throughput counts; will retry", exc_info=True)
            with self._lock:
                self._counts.update(counts)


def _add(alias: str, queue: str, minute: datetime, done: int, failed: int) -> None:
    from symphra_django.models import ThroughputMinute

    rows = ThroughputMinute.objects.filter(alias=alias, queue=queue, minute=minute)
    if rows.update(done=F("done") + done, failed=F("failed") + failed):
        return
    try:
        with transaction.atomic():
            ThroughputMinute.objects.create(alias=alias, queue=queue, minute=minute, done=done, failed=failed)
    except IntegrityError:  # another process created the row first
        rows.update(done=F("done") + done, failed=F("failed") + failed)


def prune(now: float | None = None) -> int:
    """Delete rows older than ``RETENTION``; returns how many."""
    from symphra_django.models import ThroughputMinute

    cutoff = minute_start((time.time() if now is None else now) - RETENTION)
    try:
        return ThroughputMinute.objects.filter(minute__lt=cutoff).delete()[0]
    except Exception:
        logger.warning("could not delete old throughput rows", exc_info=True)
        return 0


def per_minute(minutes: int = 60, now: float | None = None) -> list[tuple[datetime, int, int]]:
    """(minute, done, failed) for each of the last ``minutes`` minutes, oldest
    first, summed over every alias and queue (zeros where nothing ran)."""
    from symphra_django.models import ThroughputMinute

    last = minute_start(time.time() if now is None else now)
    first = last - timedelta(minutes=minutes - 1)
    totals = {
        row["minute"]: (row["d"], row["f"])
        for row in ThroughputMinute.objects.filter(minute__gte=first)
        .values("minute")
        .annotate(d=Sum("done"), f=Sum("failed"))
    }
    series = []
    for i in range(minutes):
        minute = first + timedelta(minutes=i)
        done, failed = totals.get(minute, (0, 0))
        series.append((minute, done, failed))
    return series
