"""Crash and exactly-once proofs: real ``runscheduler`` processes on the RabbitMQ backend.

Each run writes a row to a shared SQLite file (tests/processes.py), which
also holds the backend's ledger; the queues live on the local RabbitMQ under
a namespace of the test's own, deleted afterwards.
"""

from __future__ import annotations

import collections
import signal
import time
import uuid

import pytest

from tests.processes import Project, finish
from tests.services import require

pytest.importorskip("pika")

BATCH_SIZE = 32
QUEUES = ("default", "emails", "reports")


@pytest.fixture
def project(tmp_path):
    require("rabbitmq")
    from symphra_django.backends.rabbitmq_topology import Topology
    from tests.conformance.factory_rabbitmq import delete_names

    namespace = "e2e" + uuid.uuid4().hex[:10]
    made = Project(
        tmp_path / "runs.sqlite3",
        DJANGO_SETTINGS_MODULE="tests.settings_e2e_rabbitmq",
        SYMPHRA_E2E_EXCHANGE=namespace,
    )
    result = made.manage("migrate", "--noinput", "-v0")
    assert result.returncode == 0, result.stderr
    yield made
    made.stop_all()
    topology = Topology(namespace, declared_queues=set(QUEUES))
    delete_names(set(topology.all_queues()), set(topology.all_exchanges()))


ENQUEUE_ROWS = """
from symphra_django.backends import backends
from symphra_django.tasks import EnqueueOptions
from tests.sampleapp.tasks import write_row

messages = [write_row.message([str(i)], {{"sleep": {sleep}}}, EnqueueOptions()) for i in range({count})]
for start in range(0, len(messages), 500):
    assert backends["default"].enqueue_many_sync(messages[start:start + 500]) == len(messages[start:start + 500])
"""


def enqueue_rows(project: Project, count: int, sleep: float = 0.0) -> None:
    """Enqueue ``write_row`` tasks with keys 0..count-1, in confirmed batches."""
    result = project.manage("shell", "-c", ENQUEUE_ROWS.format(count=count, sleep=sleep), timeout=300)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_sigkill_in_the_middle_of_5000_tasks_loses_none_and_repeats_only_in_flight_ones(project):
    enqueue_rows(project, 5000, sleep=0.0005)
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
    # Only what the killed process held (one batch per worker thread) runs twice;
    # what it had only prefetched comes back untouched.
    assert sum(n - 1 for n in counts.values()) <= 2 * BATCH_SIZE


@pytest.mark.slow
def test_three_processes_on_one_queue_run_each_task_exactly_once(project):
    enqueue_rows(project, 3000)
    procs = [project.start("--burst", "--no-beat", "--workers", "2") for _ in range(3)]
    for proc in procs:
        code, out = finish(proc, timeout=300)
        assert code == 0, out
    counts = collections.Counter(map(int, project.rows()))
    assert sorted(counts) == list(range(3000))
    assert set(counts.values()) == {1}


@pytest.mark.slow
def test_three_schedulers_with_an_every_second_cron_run_one_per_tick(project):
    procs = [project.start("--workers", "1", SYMPHRA_E2E_CRON="1") for _ in range(3)]
    time.sleep(10)
    stopping = time.time()
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        code, out = finish(proc)
        assert code == 0, out
    ticks = collections.Counter(project.rows("tick-"))
    assert len(ticks) >= 7, ticks
    assert set(ticks.values()) == {1}, [t for t, n in ticks.items() if n > 1]
    # A tick due while the schedulers stop may be handed back unrun; every
    # earlier one must have run.
    seconds = sorted(float(t.split("-", 1)[1]) for t in ticks if float(t.split("-", 1)[1]) < stopping - 2)
    assert all(b - a == 1 for a, b in zip(seconds, seconds[1:])), ("a tick was skipped", seconds)
