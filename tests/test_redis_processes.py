"""Crash and exactly-once proofs: real ``runscheduler`` processes on the Redis backend.

Each run writes a row to a shared SQLite file (tests/processes.py); the queue
is the local Redis under a key prefix of the test's own.
"""

from __future__ import annotations

import collections
import signal
import time
import uuid

import pytest
import redis

from tests.processes import Project, finish
from tests.redis_servers import redis_servers  # noqa: F401 - fixture
from tests.services import require

BATCH_SIZE = 32


@pytest.fixture
def project(tmp_path):
    require("redis")
    prefix = "e2e" + uuid.uuid4().hex[:10]
    made = Project(
        tmp_path / "runs.sqlite3",
        DJANGO_SETTINGS_MODULE="tests.settings_e2e_redis",
        SYMPHRA_E2E_REDIS_PREFIX=prefix,
    )
    result = made.manage("migrate", "--noinput", "-v0")
    assert result.returncode == 0, result.stderr
    yield made
    made.stop_all()
    client = redis.Redis(host="127.0.0.1", port=6379)
    keys = list(client.scan_iter(match=f"{{{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def enqueue_rows(project: Project, count: int, *args: str) -> None:
    result = project.manage("enqueue_rows", str(count), *args, timeout=300)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_sigkill_in_the_middle_of_5000_tasks_loses_none_and_repeats_only_in_flight_ones(project):
    enqueue_rows(project, 5000, "--sleep", "0.0005")
    lease = {"SYMPHRA_E2E_LEASE": "2"}
    proc = project.start("--no-beat", "--workers", "2", **lease)
    project.wait_for_rows(500)
    proc.send_signal(signal.SIGKILL)
    finish(proc)
    assert len(project.rows()) < 5000, "the test must interrupt work in progress"
    time.sleep(2.5)  # the killed process's leases expire
    code, out = finish(project.start("--burst", "--no-beat", **lease), timeout=300)
    assert code == 0, out
    counts = collections.Counter(map(int, project.rows()))
    assert sorted(counts) == list(range(5000))
    # Only what the killed process held (one batch per worker thread) runs twice.
    assert sum(n - 1 for n in counts.values()) <= 2 * BATCH_SIZE


@pytest.mark.slow
def test_three_processes_on_one_queue_of_10000_tasks_run_each_exactly_once(project):
    enqueue_rows(project, 10000)
    procs = [project.start("--burst", "--no-beat", "--workers", "2") for _ in range(3)]
    for proc in procs:
        code, out = finish(proc, timeout=300)
        assert code == 0, out
    counts = collections.Counter(map(int, project.rows()))
    assert sorted(counts) == list(range(10000))
    assert set(counts.values()) == {1}


@pytest.mark.slow
def test_three_schedulers_with_an_every_second_cron_run_one_per_tick_for_30_seconds(project):
    procs = [project.start("--workers", "1", SYMPHRA_E2E_CRON="1") for _ in range(3)]
    time.sleep(30)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        code, out = finish(proc)
        assert code == 0, out
    ticks = collections.Counter(project.rows("tick-"))
    assert len(ticks) >= 27, ticks
    assert set(ticks.values()) == {1}, [t for t, n in ticks.items() if n > 1]
    seconds = sorted(float(t.split("-", 1)[1]) for t in ticks)
    assert all(b - a == 1 for a, b in zip(seconds, seconds[1:])), "a tick was skipped"


@pytest.mark.slow
def test_runscheduler_survives_a_redis_restart_mid_run_with_one_log_line(redis_servers, tmp_path):
    server = redis_servers(["appendonly yes", "appendfsync always", "requirepass pw-e2e-secret"],
                           ping_kwargs={"password": "pw-e2e-secret"})
    project = Project(
        tmp_path / "runs.sqlite3",
        DJANGO_SETTINGS_MODULE="tests.settings_e2e_redis",
        SYMPHRA_E2E_REDIS_PREFIX="restart",
        SYMPHRA_E2E_REDIS_URL=f"redis://:pw-e2e-secret@127.0.0.1:{server.port}/0",
    )
    try:
        assert project.manage("migrate", "--noinput", "-v0").returncode == 0
        enqueue_rows(project, 2000, "--sleep", "0.001")
        proc = project.start("--no-beat", "--workers", "2")
        project.wait_for_rows(200)
        server.stop(kill=True)
        time.sleep(1.5)
        server.start()
        project.wait_for_rows(2000, timeout=120)
        proc.send_signal(signal.SIGTERM)
        code, out = finish(proc)
    finally:
        project.stop_all()
    assert code == 0, out
    assert sorted(set(map(int, project.rows()))) == list(range(2000))
    assert out.count("lost the connection to Redis") == 1, out
    assert "reconnected to Redis" in out
    assert "pw-e2e-secret" not in out
