"""Helpers for end-to-end tests that run ``manage.py runscheduler`` as
subprocesses on one SQLite queue file (settings: tests/support/settings_e2e.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


class Project:
    def __init__(self, db_path: Path, **env: str) -> None:
        self.db_path = db_path
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.support.settings_e2e",
            "SYMPHRA_E2E_DB": str(db_path),
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.procs: list[subprocess.Popen] = []
        self.groups: set[int] = set()

    def manage(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "django", *args], cwd=ROOT, env={**self.env, **env},
            capture_output=True, text=True, timeout=timeout,
        )

    def start(self, *args: str, own_group: bool = False, **env: str) -> subprocess.Popen:
        """``runscheduler *args``; with ``own_group`` it leads a process group
        of its own, as a command started in a terminal does (for Ctrl-C)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "django", "runscheduler", *args], cwd=ROOT,
            env={**self.env, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=own_group,
        )
        self.procs.append(proc)
        if own_group:
            self.groups.add(proc.pid)
        return proc

    def rows(self, prefix: str = "") -> list[str]:
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            return [r[0] for r in conn.execute("SELECT key FROM sampleapp_run WHERE key LIKE ?", (prefix + "%",))]

    def query(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            return conn.execute(sql).fetchall()

    def wait_for_rows(self, count: int, timeout: float = 60) -> None:
        wait_until(lambda: len(self.rows()) >= count, timeout=timeout,
                   message=lambda: f"{count} rows (there are {len(self.rows())})")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            if proc.pid in self.groups:  # its worker processes too
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.communicate(timeout=30)


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Every thread's stack (settings_e2e registers faulthandler on
        # SIGUSR2), then the process is killed and the failure shows both.
        proc.send_signal(signal.SIGUSR2)
        time.sleep(1)
        proc.kill()
        out, _ = proc.communicate(timeout=30)
        raise AssertionError(f"runscheduler did not stop within {timeout:g}s; its output and threads:\n"
                             f"{out[-30000:]}") from None
    return proc.returncode, out
