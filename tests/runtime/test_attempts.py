"""How many attempts a task has, and that every place shows the same count.

A message carries its task's retry policy's ``max_attempts`` (runs in all);
a lost worker's delivery counts as a run, and a message is delivered at most
``max_attempts + CRASH_REDELIVERIES`` times before it is failed.
"""

from __future__ import annotations

import logging
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from symphra_django import RetryPolicy, Scheduler
from symphra_django.backends.memory import MemoryBackend
from symphra_django.messages import CRASH_REDELIVERIES, TaskMessage
from symphra_django.runtime.beat import Beat
from symphra_django.runtime.ticks import MemoryLedger
from symphra_django.tasks.base import declare
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.tasks.schedules import IntervalSchedule
from tests.support.admin import OPERATIONS_PERMISSIONS, make_user
from tests.sampleapp import tasks as sample


def test_a_message_carries_the_runs_its_policy_allows(memory):
    message = sample.always_fails.enqueue()
    assert message.max_attempts == sample.always_fails.policy.max_attempts == 2


@pytest.mark.django_db
def test_the_log_the_admin_and_taskstatus_show_the_same_attempt_n_of_m(memory, events, caplog, client,
                                                                     django_user_model):
    message = sample.always_fails.enqueue()  # two runs, both raise
    with caplog.at_level(logging.WARNING, logger="symphra_django.worker"):
        Scheduler("default", beat=False, poll_interval=0.01).run_burst()
    assert events == [("always_fails",)] * 2
    logged = [r.getMessage() for r in caplog.records if message.id in r.getMessage()]
    assert "failed on attempt 1 of 2, retrying" in logged[0]
    assert "failed on attempt 2 of 2: ValueError" in logged[1]

    client.force_login(make_user(django_user_model, "operator", perms=OPERATIONS_PERMISSIONS))
    page = client.get(reverse("admin:symphra_django_failedtask_changelist")).content.decode()
    assert '<td class="field-attempts symphra-attempts">2 of 2</td>' in page

    out = StringIO()
    call_command("taskstatus", "--failed", stdout=out)
    [row] = [line for line in out.getvalue().splitlines() if message.id in line]
    assert "2 of 2" in row and "ValueError: this task always fails" in row


def test_taskstatus_json_lists_failed_tasks_with_attempts_and_limit(memory):
    import json

    memory.enqueue_sync(TaskMessage(name="t", id="gone", max_attempts=4))
    [leased] = memory.dequeue_sync(1)
    memory.reject_sync(leased, error="boom")
    out = StringIO()
    call_command("taskstatus", "--json", "--failed", "5", stdout=out)
    [failed] = json.loads(out.getvalue())["failed"]
    assert (failed["id"], failed["attempts"], failed["max_attempts"], failed["error"]) == ("gone", 1, 4, "boom")


def test_a_crash_redelivery_past_the_policy_runs_is_not_retried(memory, events):
    # Lost workers took the first two deliveries of a two-run task: the third
    # delivery (a crash redelivery) runs, and its failure is final.
    message = sample.always_fails.enqueue()
    for _ in range(2):
        [lost] = memory.dequeue_sync(1, lease_seconds=0.01)
        assert lost.id == message.id
        time.sleep(0.03)
    Scheduler("default", beat=False, poll_interval=0.01).run_burst()
    assert events == [("always_fails",)]
    [failed] = memory.list_failed_sync()
    assert (failed.attempts, failed.max_attempts) == (3, 2)
    assert failed.error == "ValueError: this task always fails"


def test_a_lease_that_expires_past_the_policy_runs_and_two_crashes_goes_to_the_failed_store():
    backend = MemoryBackend()
    backend.enqueue_sync(TaskMessage(name="t", id="poison", max_attempts=2))
    for delivery in range(1, 2 + CRASH_REDELIVERIES + 1):
        [got] = backend.dequeue_sync(1, lease_seconds=0.01)
        assert got.attempts == delivery
        time.sleep(0.03)
    assert backend.dequeue_sync(1) == []
    [failed] = backend.list_failed_sync()
    assert failed.error.startswith("lease expired 4 time(s) without an acknowledgement (limit 4 deliveries: 2 run(s)")


def test_the_beat_gives_a_periodic_run_its_policy_runs():
    registry, backend = TaskRegistry(), MemoryBackend()

    def job(): ...

    declare(job, name="t.every10", schedule=IntervalSchedule(10), target=registry,
            retry_policy=RetryPolicy(max_attempts=4))
    Beat(registry, lambda task: backend, MemoryLedger()).run_pending(1_700_000_001.0)
    [message] = backend.peek_sync()
    assert message.max_attempts == 4


@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory", "OPTIONS": {"max_attempts": 9}}}})
def test_the_backend_max_attempts_option_is_accepted_ignored_and_warned_about():
    from symphra_django.backends import backends
    from symphra_django.checks import check_settings

    [warning] = [m for m in check_settings() if m.id == "symphra_django.W001"]
    assert "['OPTIONS']['max_attempts'] is ignored" in warning.msg
    assert "retry policy" in warning.msg
    backend = backends["default"]
    try:
        backend.enqueue_sync(TaskMessage(name="t", id="x", max_attempts=1))
        for _ in range(1 + CRASH_REDELIVERIES):
            assert backend.dequeue_sync(1, lease_seconds=0.01)
            time.sleep(0.03)
        assert backend.dequeue_sync(1) == []  # failed after 3 deliveries, not 9
    finally:
        backends.close_all()
