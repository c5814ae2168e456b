"""Exactly-once and crash proofs: real ``runscheduler`` processes on the
database backend on PostgreSQL and MariaDB.

Each run writes a row to a shared SQLite file (tests/processes.py); the queue
is in a database the test creates on the server and drops afterwards.
"""

from __future__ import annotations

import collections
import signal
import time
import uuid

import pytest

from tests.processes import Project, finish
from tests.services import require

BATCH_SIZE = 32


def server_connection(server: str):
    """A plain driver connection, outside Django's test machinery."""
    if server == "postgresql":
        import psycopg

        return psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True)
    import MySQLdb

    connection = MySQLdb.connect(host="127.0.0.1", port=3306, user="root", passwd="")
    connection.autocommit(True)
    return connection


def run_sql(server: str, statement: str) -> list[tuple]:
    connection = server_connection(server)
    try:
        cursor = connection.cursor()
        cursor.execute(statement)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        connection.close()


@pytest.fixture(params=["postgresql", "mariadb"])
def project(request, tmp_path):
    server = request.param
    require(server)
    name = "symphra_e2e_" + uuid.uuid4().hex[:10]
    run_sql(server, f"CREATE DATABASE {name}")
    made = Project(
        tmp_path / "runs.sqlite3",
        DJANGO_SETTINGS_MODULE="tests.settings_e2e_database",
        SYMPHRA_E2E_SERVER=server,
        SYMPHRA_E2E_QUEUE_DB=name,
    )
    made.server, made.queue_db = server, name
    for args in (["migrate"], ["migrate", "--database", "queue"]):
        result = made.manage(*args, "--noinput", "-v0")
        assert result.returncode == 0, result.stderr
    yield made
    made.stop_all()
    force = " WITH (FORCE)" if server == "postgresql" else ""
    run_sql(server, f"DROP DATABASE IF EXISTS {name}{force}")


def enqueue_rows(project: Project, count: int, *args: str) -> None:
    result = project.manage("enqueue_rows", str(count), *args, timeout=300)
    assert result.returncode == 0, result.stderr


def end_queue_sessions(project: Project) -> int:
    """End, from the server side, every session on the test's queue database."""
    if project.server == "postgresql":
        rows = run_sql(project.server, (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{project.queue_db}' AND pid <> pg_backend_pid()"
        ))
        return len(rows)
    ids = run_sql(project.server, (
        "SELECT id FROM information_schema.processlist "
        f"WHERE db = '{project.queue_db}' AND id <> CONNECTION_ID()"
    ))
    for (session,) in ids:
        run_sql(project.server, f"KILL {int(session)}")
    return len(ids)


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
def test_sessions_ended_by_the_server_mid_run_are_reopened_and_nothing_is_lost(project):
    enqueue_rows(project, 2000, "--sleep", "0.002")
    proc = project.start("--no-beat", "--workers", "2")
    project.wait_for_rows(200)
    assert end_queue_sessions(project) >= 1
    project.wait_for_rows(2000, timeout=120)
    proc.send_signal(signal.SIGTERM)
    code, out = finish(proc)
    assert code == 0, out
    assert sorted(set(map(int, project.rows()))) == list(range(2000))
    assert "reconnecting" in out


@pytest.mark.slow
@pytest.mark.parametrize("project", ["postgresql"], indirect=True)
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
