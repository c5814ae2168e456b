"""Measures one backend (run by benchmarks/run.py in a process of its own,
with ``DJANGO_SETTINGS_MODULE=benchmarks.settings``), prints one JSON object.

Every figure goes through the project's public code path: ``noop.enqueue()``,
``backend.enqueue_many_sync()``, and ``manage.py runscheduler`` subprocesses
(for the memory backend, whose queue lives in one process, the same
``Scheduler`` in this process).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The line each runscheduler process logs once its Scheduler is built.
STARTING = re.compile(r"runscheduler (?:main|child) process \d+ starting")


class Plan:
    """How much work each measurement does (``--quick`` is about 5x less)."""

    def __init__(self, quick: bool, runs: int | None) -> None:
        self.runs = runs or (1 if quick else 3)
        self.enqueue_one = 300 if quick else 1000
        self.enqueue_many = 3000 if quick else 10000
        self.tasks = 3000 if quick else 10000
        self.rate = 200
        self.seconds = 1.5 if quick else 3.0


def median_of(runs: int, measure: Any) -> float:
    return statistics.median(measure() for _ in range(runs))


class Bench:
    def __init__(self, name: str, plan: Plan) -> None:
        from benchmarks import recorder
        from benchmarks.backends import BACKENDS
        from benchmarks.tasks import noop
        from symphra_django.backends import backends
        from symphra_django.runtime.scheduler import connect_backend

        self.entry = BACKENDS[name]
        self.plan = plan
        self.noop = noop
        self.recorder = recorder
        self.backend = backends["default"]
        connect_backend(self.backend)
        self.bench_dir = Path(os.environ["SYMPHRA_BENCH_DIR"])

    # -- helpers -------------------------------------------------------------------

    def reset(self) -> None:
        """Empty the queue (and the database backend's history rows)."""
        self.backend.clear_sync("default")
        if self.entry.symphra_backend == "database":
            from symphra_django.models import QueuedTask

            QueuedTask.objects.all().delete()
        self.recorder.reset()

    def messages(self, count: int, due: float | None = None) -> list[Any]:
        from symphra_django.tasks.base import EnqueueOptions

        messages = [self.noop.message((), {}, EnqueueOptions()) for _ in range(count)]
        if due is not None:
            for message in messages:
                message.scheduled_time = due
        return messages

    def fill(self, count: int) -> None:
        messages = self.messages(count)
        for start in range(0, count, 1000):
            self.backend.enqueue_many_sync(messages[start : start + 1000])

    def runscheduler(self, records: Path, *args: str, gate: Path | None = None) -> subprocess.Popen:
        env = {**os.environ, "SYMPHRA_BENCH_RECORDS": str(records), "PYTHONPATH": str(ROOT)}
        if gate is not None:
            env["SYMPHRA_BENCH_GATE"] = str(gate)
        with open(records / "runscheduler.log", "w") as log:  # the child keeps its own copy
            return subprocess.Popen([sys.executable, "-m", "django", "runscheduler", *args],
                                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_for_processes(self, log: Path, processes: int, proc: subprocess.Popen) -> None:
        """Until every runscheduler process has logged that it is starting (then
        a moment for its worker threads to claim their first batch)."""
        deadline = time.time() + 60
        while len(STARTING.findall(log.read_text())) < processes:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("runscheduler did not start: " + log.read_text()[-2000:])
            time.sleep(0.02)
        time.sleep(0.5)

    def records(self, folder: Path) -> list[dict]:
        return self.recorder.read_all(folder)

    # -- enqueue -------------------------------------------------------------------

    def enqueue_one(self) -> float:
        self.reset()
        count = self.plan.enqueue_one
        started = time.perf_counter()
        for _ in range(count):
            self.noop.enqueue()
        return count / (time.perf_counter() - started)

    def enqueue_many(self) -> float:
        self.reset()
        messages = self.messages(self.plan.enqueue_many)
        started = time.perf_counter()
        self.backend.enqueue_many_sync(messages)
        return len(messages) / (time.perf_counter() - started)

    # -- throughput ----------------------------------------------------------------

    def throughput(self, processes: int) -> tuple[float, float]:
        """(tasks/s, peak RSS in MB of the busiest worker process)."""
        self.reset()
        self.fill(self.plan.tasks)
        if not self.entry.shared:
            from symphra_django.runtime.scheduler import Scheduler

            Scheduler(self.backend, beat=False).run_burst()
            runs = [self.recorder.snapshot()]
            log = ""
        else:
            with tempfile.TemporaryDirectory(dir=self.bench_dir) as folder:
                gate = Path(folder) / "gate"
                proc = self.runscheduler(Path(folder), "--burst", "--processes", str(processes), gate=gate)
                self.wait_for_processes(Path(folder) / "runscheduler.log", processes, proc)
                gate.touch()
                if proc.wait(timeout=180) != 0:
                    raise RuntimeError(f"runscheduler exited with {proc.returncode}: "
                                       + (Path(folder) / "runscheduler.log").read_text()[-2000:])
                runs = self.records(Path(folder))
                log = (Path(folder) / "runscheduler.log").read_text()
        ran = sum(len(run["starts"]) for run in runs)
        if ran != self.plan.tasks:
            raise RuntimeError(f"{ran} runs for {self.plan.tasks} tasks; runscheduler said: {log[-1500:]}")
        return rate_while_all_ran([run["starts"] for run in runs if run["starts"]]), max(
            run["peak_rss_mb"] for run in runs)

    # -- lateness at a steady offered load -------------------------------------------

    def lateness(self) -> tuple[float, float, float, float]:
        """(p50 ms, p99 ms, offered tasks/s, peak RSS MB) of (start − due) while a
        producer enqueues ``rate`` tasks/s on a fixed clock, one ``enqueue()`` each."""
        self.reset()
        if not self.entry.shared:
            from symphra_django.runtime.scheduler import Scheduler

            scheduler = Scheduler(self.backend, beat=False)
            scheduler.start()
            try:
                began, offered = self.produce()
                self.drain()
            finally:
                scheduler.stop()
            runs = [self.recorder.snapshot()]
        else:
            with tempfile.TemporaryDirectory(dir=self.bench_dir) as folder:
                proc = self.runscheduler(Path(folder), "--processes", "1")
                try:
                    self.noop.enqueue()  # warm-up: returns once a worker has run it
                    self.drain(timeout=60)
                    began, offered = self.produce()
                    self.drain()
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=60)
                runs = self.records(Path(folder))
        late = sorted(
            delay for run in runs for start, delay in zip(run["starts"], run["lateness"]) if start - delay >= began
        )
        if len(late) < offered * 0.99 * self.plan.seconds:
            raise RuntimeError(f"only {len(late)} of the offered tasks ran")
        return (percentile(late, 50) * 1000, percentile(late, 99) * 1000, offered,
                max(run["peak_rss_mb"] for run in runs))

    def produce(self) -> tuple[float, float]:
        """Enqueue on a fixed clock; returns (start time, achieved offered rate)."""
        rate, count = self.plan.rate, int(self.plan.rate * self.plan.seconds)
        began = time.time()
        for index in range(count):
            pause = began + index / rate - time.time()
            if pause > 0:
                time.sleep(pause)
            self.noop.enqueue()
        return began, count / (time.time() - began)

    def drain(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while self.backend.get_queue_size_sync("default"):
            if time.time() > deadline:
                raise RuntimeError(f"the queue did not drain in {timeout:.0f}s")
            time.sleep(0.01)

    # -- the raw client ----------------------------------------------------------------

    def raw(self) -> dict[str, float]:
        from benchmarks import raw_common

        cls, options = self.entry.raw_driver(str(self.bench_dir))
        driver = cls(**options)
        runs, results = self.plan.runs, {}

        def fresh() -> Any:
            driver.create()
            driver.connect()
            return driver

        def one() -> float:
            seconds = raw_common.time_enqueue_one(fresh(), self.plan.enqueue_one)
            driver.close()
            return self.plan.enqueue_one / seconds

        def many() -> float:
            seconds = raw_common.time_enqueue_many(fresh(), self.plan.enqueue_many)
            driver.close()
            return self.plan.enqueue_many / seconds

        def processing(processes: int) -> float:
            driver.create()
            return raw_common.time_processing(cls, options, self.plan.tasks, processes)

        results["enqueue_one"] = median_of(runs, one)
        results["enqueue_many"] = median_of(runs, many)
        results["tasks_1"] = median_of(runs, lambda: processing(1))
        results["tasks_2"] = median_of(runs, lambda: processing(2))
        if getattr(cls, "pushes", False):
            def late() -> list[float]:
                driver.create()
                return raw_common.time_lateness(cls, options, self.plan.rate, self.plan.seconds)

            lates = [late() for _ in range(runs)]
            results["p50_ms"] = statistics.median(percentile(run, 50) for run in lates) * 1000
            results["p99_ms"] = statistics.median(percentile(run, 99) for run in lates) * 1000
        driver.drop()
        return results

    # -- everything ----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        runs = self.plan.runs
        result: dict[str, Any] = {"backend": self.entry.name, "runs": runs}
        # Lateness first: in-process (memory) the peak RSS only grows, so the
        # steady-load figure must come before the queue ever holds thousands.
        late = [self.lateness() for _ in range(runs)]
        result["p50_ms"] = statistics.median(run[0] for run in late)
        result["p99_ms"] = statistics.median(run[1] for run in late)
        result["offered"] = statistics.median(run[2] for run in late)
        result["rss_steady_mb"] = max(run[3] for run in late)
        result["enqueue_one"] = median_of(runs, self.enqueue_one)
        result["enqueue_many"] = median_of(runs, self.enqueue_many)
        ones = [self.throughput(1) for _ in range(runs)]
        result["tasks_1"] = statistics.median(rate for rate, _ in ones)
        result["rss_drain_mb"] = max(peak for _, peak in ones)
        if self.entry.shared:
            result["tasks_2"] = statistics.median(self.throughput(2)[0] for _ in range(runs))
        self.reset()
        if self.entry.raw:
            result["raw"] = self.raw()
        return result


def rate_while_all_ran(per_process: list[list[float]]) -> float:
    """Tasks started per second in the window when every worker process was
    running tasks (spawned processes start later; the window excludes that)."""
    begin = max(starts[0] for starts in per_process)
    end = min(starts[-1] for starts in per_process)
    if end - begin < 0.05:  # a process barely overlapped: fall back to the whole run
        begin = min(starts[0] for starts in per_process)
        end = max(starts[-1] for starts in per_process)
        return (sum(map(len, per_process)) - 1) / (end - begin)
    inside = sum(1 for starts in per_process for t in starts if begin <= t <= end)
    return (inside - 1) / (end - begin)


def percentile(ordered: list[float], pct: float) -> float:
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int)
    args = parser.parse_args()
    import django
    from django.core.management import call_command

    from benchmarks.backends import BACKENDS

    entry = BACKENDS[args.backend]
    if entry.prepare:
        entry.prepare()
    django.setup()
    if entry.shared:
        call_command("migrate", verbosity=0)
    print(json.dumps(Bench(args.backend, Plan(args.quick, args.runs)).run()))


if __name__ == "__main__":
    main()
