"""Crash and exactly-once scenarios with real ``runscheduler`` processes,
shared by every backend's process tests (one scenario, many backends).

Each takes a ``tests.support.processes.Project`` whose settings point at the backend
under test; every task run writes a row to the project's SQLite file.
"""

from __future__ import annotations

import collections
import signal
import time

from tests.support.processes import Project, finish
from tests.support.waiting import wait_until

#: Tasks a killed process may have finished without its acknowledgement
#: landing, beyond the one each thread was running: those finished within the
#: acknowledger's group-commit window (a few milliseconds) and the group in
#: flight when the kill came. Acknowledging a claimed batch (32 per thread)
#: only at its end re-ran tens of tasks per thread.
FINISHED_UNACKNOWLEDGED = 16


def enqueue_rows(project: Project, count: int, *args: str) -> None:
    result = project.manage("enqueue_rows", str(count), *args, timeout=300)
    assert result.returncode == 0, result.stderr


def three_processes_run_each_task_exactly_once(project: Project, count: int) -> None:
    enqueue_rows(project, count)
    procs = [project.start("--burst", "--no-beat", "--workers", "2") for _ in range(3)]
    for proc in procs:
        code, out = finish(proc, timeout=300)
        assert code == 0, out
    counts = collections.Counter(map(int, project.rows()))
    assert sorted(counts) == list(range(count))
    assert set(counts.values()) == {1}


def sigkill_mid_run_loses_nothing(
    project: Project, count: int, *, sleep: str = "0.0005", interrupt_after: int = 500, workers: int = 2
) -> None:
    """SIGKILL a worker mid-run, start another: every task runs, and only
    those the killed process was running, or had just finished, run twice."""
    enqueue_rows(project, count, "--sleep", sleep)
    lease = {"SYMPHRA_E2E_LEASE": "2"}
    proc = project.start("--no-beat", "--workers", str(workers), **lease)
    project.wait_for_rows(interrupt_after)
    proc.send_signal(signal.SIGKILL)
    finish(proc)
    assert len(project.rows()) < count, "the test must interrupt work in progress"
    time.sleep(2.5)  # the killed process's leases expire
    code, out = finish(project.start("--burst", "--no-beat", **lease), timeout=300)
    assert code == 0, out
    counts = collections.Counter(map(int, project.rows()))
    assert sorted(counts) == list(range(count))
    repeated = sum(n - 1 for n in counts.values())
    assert repeated <= workers + FINISHED_UNACKNOWLEDGED, repeated


def three_schedulers_run_one_per_tick(project: Project, seconds: int) -> None:
    """Three schedulers with an every-second cron: each tick runs once, none is skipped."""
    _three_schedulers_one_per_tick(project, seconds, "tick-", SYMPHRA_E2E_CRON="1")


def add_every_second_database_schedule(project: Project, prefix: str = "stored") -> None:
    """A schedule kept in the database, every second, writing ``<prefix>-<tick>`` rows."""
    result = project.manage("schedules", "add", f"every-second-{prefix}", "--cron", "* * * * * *",
                            "--task", "tests.sampleapp.tasks.record_tick", "--args", f'["{prefix}"]',
                            "--max-instances", "5")
    assert result.returncode == 0, result.stderr


def three_schedulers_run_a_database_schedule_once_per_tick(project: Project, seconds: int) -> None:
    """The same proof for a schedule kept in the database (added with ``manage.py schedules``)."""
    add_every_second_database_schedule(project)
    _three_schedulers_one_per_tick(project, seconds, "stored-")


def _three_schedulers_one_per_tick(project: Project, seconds: int, prefix: str, **env: str) -> None:
    procs = [project.start("--workers", "1", **env) for _ in range(3)]
    # Counted from the first tick run, not from the start: three Django
    # processes may take seconds to start on a loaded machine.
    wait_until(lambda: project.rows(prefix), timeout=60, message="the first cron tick to run")
    time.sleep(seconds)
    stopping = time.time()
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        code, out = finish(proc)
        assert code == 0, out
    ticks = collections.Counter(project.rows(prefix))
    assert len(ticks) >= seconds - 3, ticks
    assert set(ticks.values()) == {1}, [t for t, n in ticks.items() if n > 1]
    # A tick due while the schedulers stop may be handed back unrun; every
    # earlier one must have run.
    starts = sorted(s for s in (float(t.split("-", 1)[1]) for t in ticks) if s < stopping - 2)
    assert all(b - a == 1 for a, b in zip(starts, starts[1:])), ("a tick was skipped", starts)
