"""An every-second cron task whose body records how late it started.

The message's ``scheduled_time`` is the tick's due second, so the recorder's
lateness (start − due) is how late the tick started. The beat's enqueue of
each tick is recorded too (``task_enqueued``: end of the enqueue − due), so
that the lateness splits into the beat's share and the worker's pickup. Each
process writes ``$SYMPHRA_BENCH_RECORDS/<pid>.json`` (benchmarks.recorder)
and ``<pid>.enqueued`` (the beat's figures) at exit.
"""

from __future__ import annotations

import atexit
import json
import os
import time
from pathlib import Path

from symphra_django.signals import task_enqueued
from symphra_django.tasks.context import current_message
from symphra_django.tasks.periodic import cron

from benchmarks import recorder

#: (due time, end of the enqueue − due time) of each tick this process's beat enqueued.
enqueued: list[tuple[float, float]] = []


@cron("* * * * * *", name="benchmarks.tick")
def tick() -> None:
    message = current_message()
    recorder.record(message.scheduled_time if message else 0.0)


def _on_enqueued(sender, message, task, **kwargs) -> None:
    if message.meta.get("schedule") == "benchmarks.tick":
        enqueued.append((message.scheduled_time, time.time() - message.scheduled_time))


task_enqueued.connect(_on_enqueued, weak=False)


def _dump() -> None:
    folder = os.environ.get("SYMPHRA_BENCH_RECORDS")
    if folder:
        (Path(folder) / f"{os.getpid()}.enqueued").write_text(json.dumps(enqueued))


atexit.register(_dump)
