"""Crash and exactly-once proofs: real ``runscheduler`` processes on the Redis backend.

Each run writes a row to a shared SQLite file (tests/support/processes.py); the queue
is the local Redis under a key prefix of the test's own.
"""

from __future__ import annotations

import signal
import time
import uuid

import pytest
import redis

from tests.support.process_scenarios import (
    enqueue_rows,
    sigkill_mid_run_loses_nothing,
    three_processes_run_each_task_exactly_once,
    three_schedulers_run_a_database_schedule_once_per_tick,
    three_schedulers_run_one_per_tick,
)
from tests.support.processes import Project, finish
from tests.support.redis_servers import redis_servers  # noqa: F401 - fixture
from tests.support.services import require

@pytest.fixture
def project(tmp_path):
    require("redis")
    prefix = "e2e" + uuid.uuid4().hex[:10]
    made = Project(
        tmp_path / "runs.sqlite3",
        DJANGO_SETTINGS_MODULE="tests.support.settings_e2e_redis",
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


@pytest.mark.slow
def test_sigkill_in_the_middle_of_5000_tasks_loses_none_and_repeats_only_in_flight_ones(project):
    sigkill_mid_run_loses_nothing(project, 5000)


@pytest.mark.slow
@pytest.mark.soak
def test_three_processes_on_one_queue_of_10000_tasks_run_each_exactly_once(project):
    three_processes_run_each_task_exactly_once(project, 10000)


@pytest.mark.slow
@pytest.mark.soak
def test_three_schedulers_with_an_every_second_cron_run_one_per_tick_for_30_seconds(project):
    three_schedulers_run_one_per_tick(project, 30)


@pytest.mark.slow
@pytest.mark.soak
def test_three_schedulers_run_each_tick_of_a_database_schedule_once_for_15_seconds(project):
    three_schedulers_run_a_database_schedule_once_per_tick(project, 15)


@pytest.mark.slow
def test_runscheduler_survives_a_redis_restart_mid_run_with_one_log_line(redis_servers, tmp_path):
    server = redis_servers(["appendonly yes", "appendfsync always", "requirepass pw-e2e-secret"],
                           ping_kwargs={"password": "pw-e2e-secret"})
    project = Project(
        tmp_path / "runs.sqlite3",
        DJANGO_SETTINGS_MODULE="tests.support.settings_e2e_redis",
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
