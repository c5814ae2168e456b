"""What the no-op task records in each worker process, and how it is read back.

Each call appends its start time and its lateness (start − due time) to two
arrays; at interpreter exit the process writes them, with its peak RSS, to
``$SYMPHRA_BENCH_RECORDS/<pid>.json``. Appending two floats keeps the task a
no-op as far as the measurement can tell.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import time
from array import array
from pathlib import Path

starts = array("d")
lateness = array("d")
#: A file whose appearance lets tasks run (``$SYMPHRA_BENCH_GATE``): the
#: benchmark opens it once every worker process is up, so that a throughput
#: run with several processes measures them all working, not their start-up.
_gate = os.environ.get("SYMPHRA_BENCH_GATE")


def record(due: float) -> None:
    global _gate
    gate = _gate
    if gate:
        while not os.path.exists(gate):
            time.sleep(0.001)
        _gate = None
    now = time.time()
    starts.append(now)
    lateness.append(now - due)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    On Linux, VmHWM of /proc/self/status: ``ru_maxrss`` of a process started
    by fork and exec also counts the parent's image before the exec (the
    kernel carries the old peak over), so a worker spawned by a benchmark
    holding 10,000 messages would report the benchmark's size.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def snapshot() -> dict:
    # The peak first: the lists built below are the benchmark's memory.
    peak = peak_rss_mb()
    return {"pid": os.getpid(), "starts": starts.tolist(), "lateness": lateness.tolist(), "peak_rss_mb": peak}


def reset() -> None:
    del starts[:]
    del lateness[:]


def _dump() -> None:
    folder = os.environ.get("SYMPHRA_BENCH_RECORDS")
    if folder:
        path = Path(folder) / f"{os.getpid()}.json"
        path.write_text(json.dumps(snapshot()))


atexit.register(_dump)


def read_all(folder: Path) -> list[dict]:
    """The records every worker process of one run left in ``folder``."""
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]
