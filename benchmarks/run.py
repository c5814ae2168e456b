"""Benchmarks of symphra_django, end to end, beside the raw clients.

    python benchmarks/run.py [--backends memory,sqlite,...] [--quick] [--runs N] [--json FILE]

Each backend is measured in a fresh process of its own (benchmarks/measure.py)
and printed as one table; a backend whose module or server is missing is
skipped with the reason. See benchmarks/README.md and docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.backends import BACKENDS

#: Floors of DESIGN.md section 7: (tasks/s at least, p99 ms below, peak RSS MB at most).
FLOORS = {
    "memory": (10_000, 1.0, 50),
    "sqlite": (8_000, 3.0, 60),
    "redis": (10_000, 2.0, None),
    "rabbitmq": (6_000, 5.0, 70),
}

ROWS = (
    # key, label, unit format, higher is better
    ("enqueue_one", "enqueue/s, one at a time (task.enqueue)", "{:,.0f}"),
    ("enqueue_many", "enqueue/s, bulk (enqueue_many_sync)", "{:,.0f}"),
    ("tasks_1", "tasks/s, 1 worker process", "{:,.0f}"),
    ("tasks_2", "tasks/s, 2 worker processes", "{:,.0f}"),
    ("p50_ms", "p50 start - due, ms (steady load)", "{:.2f}"),
    ("p99_ms", "p99 start - due, ms (steady load)", "{:.2f}"),
    ("rss_steady_mb", "peak RSS of a worker process, steady load, MB", "{:.1f}"),
    ("rss_drain_mb", "peak RSS of a worker process, draining the queue, MB", "{:.1f}"),
)


def measure(name: str, quick: bool, runs: int | None) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"symphra-bench-{name}-") as folder:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "benchmarks.settings", "SYMPHRA_BENCH_BACKEND": name,
               "SYMPHRA_BENCH_DIR": folder, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "benchmarks.measure", name]
        if quick:
            command.append("--quick")
        if runs:
            command += ["--runs", str(runs)]
        done = subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "Error" in line]
        raise RuntimeError(errors[-1] if errors else done.stderr.strip()[-500:] or "failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def floor_check(name: str, key: str, value: float) -> str:
    floor = FLOORS.get(name)
    if floor is None:
        return ""
    tasks, p99, rss = floor
    if key == "tasks_1":
        return f">= {tasks:,}: {'met' if value >= tasks else 'NOT met'}"
    if key == "p99_ms":
        return f"< {p99:g}: {'met' if value < p99 else 'NOT met'}"
    if key == "rss_steady_mb" and rss is not None:
        return f"<= {rss}: {'met' if value <= rss else 'NOT met'}"
    return ""


def table(result: dict) -> str:
    name, raw = result["backend"], result.get("raw", {})
    lines = [[ "", "symphra", "raw client", "ratio", "floor"]]
    for key, label, fmt in ROWS:
        if key not in result:
            continue
        value = result[key]
        raw_value = raw.get(key)
        lines.append([
            label, fmt.format(value), fmt.format(raw_value) if raw_value else "-",
            f"{value / raw_value:.0%}" if raw_value else "-", floor_check(name, key, value),
        ])
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    out = [f"== {name} (median of {result['runs']} run(s); lateness at ~{result['offered']:.0f} tasks/s offered)"]
    for line in lines:
        out.append("  ".join(cell.ljust(widths[i]) if i in (0, 4) else cell.rjust(widths[i])
                             for i, cell in enumerate(line)).rstrip())
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"comma-separated, among {', '.join(BACKENDS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="about 5x less work, one run each (under a minute)")
    parser.add_argument("--runs", type=int, help="runs per measurement (default 3, quick 1); medians are shown")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    names = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = [name for name in names if name not in BACKENDS]
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(unknown)}; known: {', '.join(BACKENDS)}")
    print(f"symphra_django benchmarks, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} CPU(s), Python {platform.python_version()}, no-op tasks", flush=True)
    results, failed = [], False
    for name in names:
        reason = BACKENDS[name].unavailable()
        if reason:
            print(f"\n== {name}: skipped ({reason})", flush=True)
            continue
        started = time.time()
        try:
            result = measure(name, args.quick, args.runs)
        except Exception as exc:  # noqa: BLE001 - one backend failing must not hide the others
            print(f"\n== {name}: FAILED ({exc})", flush=True)
            failed = True
            continue
        results.append(result)
        print(f"\n{table(result)}\n   ({time.time() - started:.0f}s)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
