"""A real ``runscheduler --processes 2``: both processes register, one
SIGKILLed child is shown as gone after the worker timeout while the other
keeps its heartbeat, and a clean stop removes the main process's entry."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import pytest

from symphra_django.backends.workers import ALIVE, GONE, StoredWorker, WorkerRecord
from tests.support.processes import Project, finish
from tests.support.waiting import wait_until

TIMEOUT = 1.0


def workers(project: Project) -> dict[str, WorkerRecord]:
    with sqlite3.connect(project.db_path, timeout=30) as conn:
        rows = conn.execute("SELECT worker_id, record, stop_requested FROM symphra_worker").fetchall()
    return {row[0]: WorkerRecord.from_stored(StoredWorker(row[0], row[1], bool(row[2]))) for row in rows}


@pytest.mark.slow
def test_a_sigkilled_worker_process_is_shown_as_gone_after_the_timeout(tmp_path):
    project = Project(tmp_path / "queue.sqlite3", SYMPHRA_E2E_HEARTBEAT="0.1",
                      SYMPHRA_E2E_WORKER_TIMEOUT=str(TIMEOUT))
    assert project.manage("migrate", "--noinput", "-v0").returncode == 0
    main = project.start("--no-beat", "--processes", "2", "--workers", "1")
    try:
        found = wait_until(lambda: len(workers(project)) == 2 and workers(project), timeout=60,
                           message="two registered processes")
        child = next(record for record in found.values() if record.role == "child")
        os.kill(child.pid, signal.SIGKILL)
        wait_until(lambda: workers(project)[child.worker_id].state(time.time(), TIMEOUT) == GONE,
                   timeout=10, message="the killed process shown as gone")
        alive = [r for r in workers(project).values() if r.state(time.time(), TIMEOUT) == ALIVE]
        assert [r.pid for r in alive] == [main.pid]
        main.send_signal(signal.SIGTERM)
        code, out = finish(main)
        assert code == 0, out
        assert list(workers(project)) == [child.worker_id]  # the killed one's entry expires on its own
    finally:
        project.stop_all()
