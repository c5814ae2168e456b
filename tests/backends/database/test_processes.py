"""Exactly-once and crash proofs: real ``runscheduler`` processes on the
database backend on PostgreSQL and MariaDB.

Each run writes a row to a shared SQLite file (tests/support/processes.py); the queue
is in a database the test creates on the server and drops afterwards.
"""

from __future__ import annotations

import signal
import uuid

import pytest

from tests.support.process_scenarios import (
    enqueue_rows,
    sigkill_mid_run_loses_nothing,
    three_processes_run_each_task_exactly_once,
    three_schedulers_run_a_database_schedule_once_per_tick,
    three_schedulers_run_one_per_tick,
)
from tests.support.processes import Project, finish
from tests.support.services import require

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
        DJANGO_SETTINGS_MODULE="tests.support.settings_e2e_database",
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
@pytest.mark.soak
def test_three_processes_on_one_queue_of_10000_tasks_run_each_exactly_once(project):
    three_processes_run_each_task_exactly_once(project, 10000)


@pytest.mark.slow
def test_sigkill_in_the_middle_of_5000_tasks_loses_none_and_repeats_only_in_flight_ones(project):
    sigkill_mid_run_loses_nothing(project, 5000)


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
@pytest.mark.soak
@pytest.mark.parametrize("project", ["postgresql"], indirect=True)
def test_three_schedulers_with_an_every_second_cron_run_one_per_tick_for_30_seconds(project):
    three_schedulers_run_one_per_tick(project, 30)


@pytest.mark.slow
@pytest.mark.soak
@pytest.mark.parametrize("project", ["postgresql"], indirect=True)
def test_three_schedulers_run_each_tick_of_a_database_schedule_once_for_15_seconds(project):
    three_schedulers_run_a_database_schedule_once_per_tick(project, 15)
