"""Crash and exactly-once proofs: real ``runscheduler`` processes on the RabbitMQ backend.

Each run writes a row to a shared SQLite file (tests/support/processes.py), which
also holds the backend's ledger; the queues live on the local RabbitMQ under
a namespace of the test's own, deleted afterwards.
"""

from __future__ import annotations

import uuid

import pytest

from tests.support.process_scenarios import (
    sigkill_mid_run_loses_nothing,
    three_processes_run_each_task_exactly_once,
    three_schedulers_run_one_per_tick,
)
from tests.support.processes import Project
from tests.support.services import require

pytest.importorskip("pika")

QUEUES = ("default", "emails", "reports")


@pytest.fixture
def project(tmp_path):
    require("rabbitmq")
    from symphra_django.backends.rabbitmq.topology import Topology
    from tests.conformance.factory_rabbitmq import delete_names

    namespace = "e2e" + uuid.uuid4().hex[:10]
    made = Project(
        tmp_path / "runs.sqlite3",
        DJANGO_SETTINGS_MODULE="tests.support.settings_e2e_rabbitmq",
        SYMPHRA_E2E_EXCHANGE=namespace,
    )
    result = made.manage("migrate", "--noinput", "-v0")
    assert result.returncode == 0, result.stderr
    yield made
    made.stop_all()
    topology = Topology(namespace, declared_queues=set(QUEUES))
    delete_names(set(topology.all_queues()), set(topology.all_exchanges()))


@pytest.mark.slow
def test_sigkill_in_the_middle_of_5000_tasks_loses_none_and_repeats_only_in_flight_ones(project):
    # What the killed process had only prefetched comes back untouched.
    sigkill_mid_run_loses_nothing(project, 5000)


@pytest.mark.slow
def test_three_processes_on_one_queue_run_each_task_exactly_once(project):
    three_processes_run_each_task_exactly_once(project, 3000)


@pytest.mark.slow
def test_three_schedulers_with_an_every_second_cron_run_one_per_tick(project):
    three_schedulers_run_one_per_tick(project, 10)
