"""How late every-second periodic ticks start, with several schedulers running.

    python benchmarks/ticks.py [--backends sqlite,postgresql,redis] [--schedulers 3]
                               [--seconds 40] [--runs 1] [--idle 30] [--json FILE]

For each backend, in a fresh scratch folder: ``migrate``, then
``--schedulers`` ``manage.py runscheduler`` processes (beat on, one worker
process each, the default worker threads) with ``benchmarks.settings`` plus
an every-second cron task (``* * * * * *``, benchmarks/ticking/tasks.py)
whose body records start − due second. After a warm-up, the ticks due in the
next ``--seconds`` seconds are counted: every second must have run exactly
once, across all processes. Printed per backend (medians over ``--runs``):

- start lateness p50 / p99 / max (ms): the task body's start − its due second;
- of which the beat: end of the tick's enqueue − due (wake-up, ledger claim,
  enqueue), and the pickup: start − end of the enqueue (a worker claiming it);
- CPU of each runscheduler process, in CPU-seconds per minute.

``--idle N`` also measures a runscheduler with nothing due (no periodic
task, empty queue) for N seconds: what a waiting process costs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.backends import BACKENDS  # noqa: E402

#: Seconds the schedulers run before the measured window (start-up, first claims).
WARMUP = 4.0
#: Clock ticks per CPU-second in ``/proc/<pid>/stat``.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[float], pct: float) -> float:
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def environment(name: str, folder: str, settings: str) -> dict[str, str]:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "SYMPHRA_BENCH_BACKEND": name,
            "SYMPHRA_BENCH_DIR": folder, "PYTHONPATH": str(ROOT)}


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "django", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed: {done.stderr[-2000:]}")


def prepare(name: str, env: dict[str, str]) -> None:
    """Create the server database if needed, migrate, forget earlier runs' ticks."""
    entry = BACKENDS[name]
    if entry.prepare:
        entry.prepare()
    manage(env, "migrate", "-v", "0", "--skip-checks")
    reset = ("from symphra_django.models import QueuedTask, ScheduleState\n"
             "ScheduleState.objects.filter(name='benchmarks.tick').delete()\n"
             "QueuedTask.objects.all().delete()\n")
    manage(env, "shell", "-c", reset)
    if entry.symphra_backend != "database":
        clear = ("from symphra_django.backends import backends\n"
                 "backends['default'].clear_sync('default')\n")
        manage(env, "shell", "-c", clear)


def start_schedulers(count: int, env: dict[str, str], folder: Path) -> list[subprocess.Popen]:
    env = {**env, "SYMPHRA_BENCH_RECORDS": str(folder)}
    procs = []
    for index in range(count):
        with open(folder / f"runscheduler-{index}.log", "w") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "django", "runscheduler", "--processes", "1"],
                                          cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.time() + 60
    for index, proc in enumerate(procs):
        log = folder / f"runscheduler-{index}.log"
        while "starting" not in log.read_text():
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("runscheduler did not start: " + log.read_text()[-2000:])
            time.sleep(0.05)
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=60)


def one_run(name: str, schedulers: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"symphra-ticks-{name}-") as scratch:
        env = environment(name, scratch, "benchmarks.ticks_settings")
        prepare(name, env)
        folder = Path(scratch) / "records"
        folder.mkdir()
        procs = start_schedulers(schedulers, env, folder)
        try:
            time.sleep(WARMUP)
            began = time.time()
            cpu_before = [cpu_seconds(proc.pid) for proc in procs]
            time.sleep(seconds)
            ended = time.time()
            cpu = [(cpu_seconds(proc.pid) - before) * 60 / (ended - began)
                   for proc, before in zip(procs, cpu_before)]
        finally:
            stop(procs)
        starts: dict[float, list[float]] = {}
        for path in folder.glob("*.json"):
            record = json.loads(path.read_text())
            for start, late in zip(record["starts"], record["lateness"]):
                starts.setdefault(round(start - late, 3), []).append(late)
        enqueued: dict[float, float] = {}
        for path in folder.glob("*.enqueued"):
            for due, late in json.loads(path.read_text()):
                enqueued[round(due, 3)] = late
    window = [due for due in range(int(began) + 1, int(ended))]
    runs = [starts.get(float(due), []) for due in window]
    missing = sum(1 for r in runs if not r)
    twice = sum(1 for r in runs if len(r) > 1)
    late = sorted(r[0] for r in runs if r)
    beat = sorted(enqueued[float(due)] for due in window if float(due) in enqueued)
    pickup = sorted(starts[float(due)][0] - enqueued[float(due)] for due in window
                    if starts.get(float(due)) and float(due) in enqueued)
    if missing or twice:
        print(f"   !! {missing} tick(s) never ran, {twice} ran more than once", flush=True)

    def summary(values: list[float]) -> dict:
        return {"p50_ms": percentile(values, 50) * 1000, "p99_ms": percentile(values, 99) * 1000,
                "max_ms": values[-1] * 1000} if values else {}

    return {"ticks": len(window), "missing": missing, "twice": twice, "start": summary(late),
            "beat": summary(beat), "pickup": summary(pickup), "cpu_s_per_min": cpu}


def idle_cpu(name: str, seconds: float) -> float:
    """CPU-seconds per minute of one runscheduler with nothing to do."""
    with tempfile.TemporaryDirectory(prefix=f"symphra-idle-{name}-") as scratch:
        env = environment(name, scratch, "benchmarks.settings")
        prepare(name, env)
        folder = Path(scratch) / "records"
        folder.mkdir()
        procs = start_schedulers(1, env, folder)
        try:
            time.sleep(WARMUP)
            before, began = cpu_seconds(procs[0].pid), time.time()
            time.sleep(seconds)
            return (cpu_seconds(procs[0].pid) - before) * 60 / (time.time() - began)
        finally:
            stop(procs)


def median_run(runs: list[dict]) -> dict:
    out: dict = {"runs": len(runs), "ticks": sum(r["ticks"] for r in runs),
                 "missing": sum(r["missing"] for r in runs), "twice": sum(r["twice"] for r in runs)}
    for part in ("start", "beat", "pickup"):
        out[part] = {key: statistics.median(r[part][key] for r in runs if r[part])
                     for key in ("p50_ms", "p99_ms", "max_ms") if any(r[part] for r in runs)}
    out["cpu_s_per_min"] = statistics.median(c for r in runs for c in r["cpu_s_per_min"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = [name for name, entry in BACKENDS.items() if entry.shared]
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help=f"comma-separated, among {', '.join(shared)} (default: sqlite,postgresql)")
    parser.add_argument("--schedulers", type=int, default=3, help="runscheduler processes (default 3)")
    parser.add_argument("--seconds", type=float, default=40, help="measured seconds per run (default 40)")
    parser.add_argument("--runs", type=int, default=1, help="runs per backend; medians are shown (default 1)")
    parser.add_argument("--idle", type=float, default=0, metavar="SECONDS",
                        help="also measure the CPU of an idle runscheduler for this long")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    names = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = [name for name in names if name not in shared]
    if unknown:
        parser.error(f"unknown or in-process backend(s) {', '.join(unknown)}; known: {', '.join(shared)}")
    print(f"every-second ticks, {args.schedulers} runscheduler(s), {args.seconds:g}s x {args.runs} run(s), "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPU(s)", flush=True)
    results, failed = {}, False
    for name in names:
        reason = BACKENDS[name].unavailable()
        if reason:
            print(f"\n== {name}: skipped ({reason})", flush=True)
            continue
        runs = [one_run(name, args.schedulers, args.seconds) for _ in range(args.runs)]
        result = median_run(runs)
        if args.idle:
            result["idle_cpu_s_per_min"] = idle_cpu(name, args.idle)
        results[name] = result
        failed = failed or bool(result["missing"] or result["twice"])
        print(f"\n== {name}: {result['ticks']} ticks, {result['missing']} missed, {result['twice']} run twice")
        for part, label in (("start", "start - due"), ("beat", "  beat: enqueued - due"),
                            ("pickup", "  pickup: start - enqueued")):
            figures = result[part]
            if figures:
                print(f"   {label:<28} p50 {figures['p50_ms']:7.2f} ms   p99 {figures['p99_ms']:7.2f} ms"
                      f"   max {figures['max_ms']:7.2f} ms")
        print(f"   CPU of a ticking runscheduler  {result['cpu_s_per_min']:.2f} CPU-s/min")
        if "idle_cpu_s_per_min" in result:
            print(f"   CPU of an idle runscheduler    {result['idle_cpu_s_per_min']:.2f} CPU-s/min")
        sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
