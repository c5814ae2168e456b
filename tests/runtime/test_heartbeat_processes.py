"""A real ``runscheduler --processes 3``: every process registers, a
SIGKILLed child is shown as gone after the worker timeout while the others
keep their heartbeats, and a stop requested through the registry (the
admin's button) stops the main process and its other child cleanly, each
removing its entry."""

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
def test_a_sigkilled_process_is_shown_as_gone_and_a_requested_stop_ends_the_others_cleanly(tmp_path):
    project = Project(tmp_path / "queue.sqlite3", SYMPHRA_E2E_HEARTBEAT="0.1",
                      SYMPHRA_E2E_WORKER_TIMEOUT=str(TIMEOUT))
    assert project.manage("migrate", "--noinput", "-v0").returncode == 0
    main = project.start("--no-beat", "--processes", "3", "--workers", "1")
    try:
        found = wait_until(lambda: len(workers(project)) == 3 and workers(project), timeout=60,
                           message="three registered processes")
        killed, spared = [record for record in found.values() if record.role == "child"]
        os.kill(killed.pid, signal.SIGKILL)
        wait_until(lambda: workers(project)[killed.worker_id].state(time.time(), TIMEOUT) == GONE,
                   timeout=10, message="the killed process shown as gone")
        alive = [r for r in workers(project).values() if r.state(time.time(), TIMEOUT) == ALIVE]
        assert sorted(r.pid for r in alive) == sorted([main.pid, spared.pid])
        with sqlite3.connect(project.db_path, timeout=30) as conn:
            conn.execute("UPDATE symphra_worker SET stop_requested = 1 WHERE worker_id LIKE ?", (f"%:{main.pid}",))
        code, out = finish(main, timeout=30)
        assert code == 0, out
        assert "asked to stop accepting work" in out
        assert list(workers(project)) == [killed.worker_id]  # the killed one's entry expires on its own
    finally:
        project.stop_all()
