"""``manage.py runscheduler``: options, errors, and real processes.

The process tests run the command as subprocesses on one SQLite queue file,
enqueue from another process, and count the rows each task run writes.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.support.process_scenarios import (
    add_every_second_database_schedule,
    sigkill_mid_run_loses_nothing,
    three_schedulers_run_a_database_schedule_once_per_tick,
    three_schedulers_run_one_per_tick,
)
from tests.support.processes import Project, finish
from tests.support.waiting import wait_until


def test_help_describes_every_option(capsys):
    with pytest.raises(SystemExit):
        call_command("runscheduler", "--help")
    text = capsys.readouterr().out
    for option in ("--backend", "--queue", "--workers", "--processes", "--no-beat", "--beat-only",
                   "--burst", "--shutdown-timeout"):
        assert option in text


def test_help_says_what_each_verbosity_logs(capsys):
    with pytest.raises(SystemExit):
        call_command("runscheduler", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "0 = errors only" in text and "1 = also warnings" in text and "2 or 3 = also debug lines" in text
    assert "Verbosity level; 0=minimal output" not in text  # Django's words for other commands


def test_unknown_backend_alias_lists_the_configured_ones():
    with pytest.raises(CommandError, match=r"unknown backend alias 'nope'; configured aliases are 'default'"):
        call_command("runscheduler", "--backend", "nope")


def test_unknown_queue_is_refused():
    with pytest.raises(CommandError, match=r"unknown queue\(s\) 'emials'; known queues are .*emails"):
        call_command("runscheduler", "--queue", "emials", "--burst")


@pytest.mark.parametrize("option", ["--workers", "--processes", "--batch-size"])
def test_counts_below_one_are_refused(option):
    with pytest.raises(CommandError, match=f"{option} must be at least 1"):
        call_command("runscheduler", option, "0")


def test_burst_with_beat_only_is_refused():
    with pytest.raises(CommandError, match="--burst"):
        call_command("runscheduler", "--burst", "--beat-only")


def test_burst_runs_what_is_due_and_returns(memory, events):
    from tests.sampleapp.tasks import remember

    for i in range(20):
        remember.enqueue(i)
    call_command("runscheduler", "--burst", "--no-beat", verbosity=0)
    assert len(events) == 20


@pytest.fixture
def scheduler_log(caplog):
    """What runscheduler logs at -v 1 (its level is restored afterwards)."""
    logger = logging.getLogger("symphra_django")
    level = logger.level
    with caplog.at_level(logging.INFO, logger="symphra_django"):
        yield caplog
    logger.setLevel(level)


def test_the_closing_summary_counts_failures_as_taskstatus_does(memory, events, scheduler_log):
    """Tasks that fail for good, tasks nobody declared and payloads that
    cannot be read all go to the failed store: the summary's "failed" is
    what taskstatus then counts."""
    from symphra_django.messages import TaskMessage
    from tests.conformance.factories import MemoryFactory
    from tests.sampleapp.tasks import always_fails, remember

    remember.enqueue(1)
    always_fails.enqueue()  # two runs: a retry, then the failed store
    memory.enqueue_sync(TaskMessage(name="shop.tasks.not_declared_anywhere"))
    MemoryFactory().inject_corrupt(memory, "default", b"{not json")
    call_command("runscheduler", "--burst", "--no-beat", verbosity=1)
    [summary] = [r.getMessage() for r in scheduler_log.records if "stopped:" in r.getMessage()]
    assert summary.endswith("stopped: 3 run(s), 1 succeeded, 3 failed (2 without running: unknown task or "
                            "unreadable payload), 1 retried")
    out = StringIO()
    call_command("taskstatus", "--json", stdout=out)
    [backend] = json.loads(out.getvalue())["backends"]
    assert sum(q["failed"] for q in backend["queues"]) == 3


def test_an_unknown_task_fails_saying_where_runscheduler_looks_for_tasks(memory, scheduler_log):
    from symphra_django.messages import TaskMessage

    memory.enqueue_sync(TaskMessage(name="shop.tasks.touch"))
    call_command("runscheduler", "--burst", "--no-beat", verbosity=1)
    [failed] = memory.list_failed_sync()
    assert failed.error == ("unknown task 'shop.tasks.touch': not declared in this worker, which knows the tasks "
                            "in the tasks.py of each app in INSTALLED_APPS (is the app that declares it there?)")


# -- real processes --------------------------------------------------------------


@pytest.fixture
def project(tmp_path):
    made = Project(tmp_path / "queue.sqlite3")
    result = made.manage("migrate", "--noinput", "-v0")
    assert result.returncode == 0, result.stderr
    yield made
    made.stop_all()


@pytest.mark.slow
def test_burst_runs_1000_tasks_enqueued_by_another_process_and_exits_0(project):
    assert project.manage("enqueue_rows", "1000").returncode == 0
    code, out = finish(project.start("--burst", "--no-beat"))
    assert code == 0, out
    assert sorted(map(int, project.rows())) == list(range(1000))


@pytest.mark.slow
def test_sigterm_mid_work_finishes_running_tasks_exits_0_and_loses_nothing(project):
    assert project.manage("enqueue_rows", "200", "--sleep", "0.02").returncode == 0
    proc = project.start("--no-beat", "--workers", "2")
    project.wait_for_rows(20)
    proc.send_signal(signal.SIGTERM)
    code, out = finish(proc)
    assert code == 0, out
    assert "shutting down" in out
    each_ran_once_after_a_burst(project, 200)


def each_ran_once_after_a_burst(project, count: int) -> None:
    """After a graceful stop mid-run, a burst runs the rest: every task ran,
    and none twice (running tasks finished, unstarted ones were handed back)."""
    assert len(project.rows()) < count, "the test must interrupt work in progress"
    code, out = finish(project.start("--burst", "--no-beat"))
    assert code == 0, out
    rows = project.rows()
    assert sorted(set(map(int, rows))) == list(range(count))
    assert len(rows) == count


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_process_gracefully(project):
    # Ctrl-C in a terminal sends SIGINT to every process of the foreground
    # group, and the main process passes it on to its worker processes: a
    # worker that took the second for "exit now" dropped its running tasks.
    assert project.manage("enqueue_rows", "200", "--sleep", "0.02").returncode == 0
    proc = project.start("--no-beat", "--processes", "2", "--workers", "2", own_group=True)
    project.wait_for_rows(20)
    # Both processes are up (each has written its heartbeat record).
    wait_until(lambda: project.query("SELECT COUNT(*) FROM symphra_worker")[0][0] == 2, timeout=60,
               message="two worker records")
    os.killpg(proc.pid, signal.SIGINT)
    code, out = finish(proc)
    assert code == 0, out
    assert "second signal" not in out and "exited with code" not in out, out
    assert out.count("stopped:") == 2, out  # the main process and its worker process
    each_ran_once_after_a_burst(project, 200)


@pytest.mark.slow
def test_sigkill_mid_work_loses_nothing_once_leases_expire(project):
    sigkill_mid_run_loses_nothing(project, 300, sleep="0.01", interrupt_after=30)


@pytest.mark.slow
def test_three_schedulers_enqueue_each_cron_tick_exactly_once(project):
    three_schedulers_run_one_per_tick(project, 9)


@pytest.mark.slow
def test_three_schedulers_enqueue_each_tick_of_a_database_schedule_exactly_once(project):
    three_schedulers_run_a_database_schedule_once_per_tick(project, 9)


@pytest.mark.slow
def test_a_running_scheduler_picks_up_a_database_schedule_added_and_disabled_without_a_restart(project):
    proc = project.start("--workers", "1")
    # A task it runs shows it is up (its beat starts with its workers).
    assert project.manage("enqueue_rows", "1").returncode == 0
    project.wait_for_rows(1)
    add_every_second_database_schedule(project, "live")
    wait_until(lambda: len(project.rows("live-")) >= 2, timeout=60, message="two ticks of the added schedule")
    result = project.manage("schedules", "disable", "every-second-live")
    assert result.returncode == 0, result.stderr
    # A tick claimed before the disable was read may still run; then none.
    settled = len(project.rows("live-")) + 1
    assert proc.poll() is None
    time.sleep(3)
    assert len(project.rows("live-")) <= settled
    proc.send_signal(signal.SIGTERM)
    code, out = finish(proc)
    assert code == 0, out


@pytest.mark.slow
def test_several_processes_share_the_work_and_run_each_task_once(project):
    assert project.manage("enqueue_rows", "600", "--sleep", "0.002").returncode == 0
    code, out = finish(project.start("--burst", "--no-beat", "--processes", "3", "--workers", "2"))
    assert code == 0, out
    rows = project.rows()
    assert sorted(map(int, rows)) == list(range(600))
    from tests.support.processes import sqlite3

    with sqlite3.connect(project.db_path) as conn:
        pids = conn.execute("SELECT COUNT(DISTINCT pid) FROM sampleapp_run").fetchone()[0]
    assert pids >= 2, out
