"""Backend aliases are gathered independently: one that is down or hangs
costs the others nothing, and shows its own cause.

No test here measures time: parallelism is shown with a barrier both
aliases must reach together, and a hung alias by a connect that never
returns until the test lets it go.
"""

from __future__ import annotations

import json
import threading
from io import StringIO
from typing import ClassVar

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse

from symphra_django.backends import MemoryBackend, backends
from symphra_django.messages import TaskMessage
from symphra_django.ops import status
from tests.support.admin import OPERATIONS_PERMISSIONS, make_user
from tests.support.ports import ClosingPort, SilentPort
from tests.support.services import require

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-pw"


class Meeting:
    """A barrier the health checks of two aliases must reach together: if
    the aliases were checked one after the other, the first would give up."""

    barrier = threading.Barrier(2, timeout=20)


class MeetingBackend(MemoryBackend):
    def health_check_sync(self) -> bool:
        Meeting.barrier.wait()
        return True


class HungBackend(MemoryBackend):
    """Its connect never returns until the test releases it."""

    entered: ClassVar[list[str]] = []
    release = threading.Event()

    def connect_sync(self) -> None:
        HungBackend.entered.append(self.alias)
        HungBackend.release.wait(30)
        raise ConnectionError("released by the test")


@pytest.fixture(autouse=True)
def fresh_doors():
    Meeting.barrier = threading.Barrier(2, timeout=20)
    HungBackend.entered = []
    HungBackend.release = threading.Event()
    yield
    HungBackend.release.set()
    backends.close_all()


@pytest.fixture
def short_deadline(monkeypatch):
    monkeypatch.setattr(status, "CONNECT_TIMEOUT", 0.2)
    return 0.2


def failed_task(backend, queue="default"):
    task = TaskMessage(name="tests.sampleapp.tasks.always_fails", queue=queue, max_attempts=1)
    backend.enqueue_sync(task)
    [leased] = backend.dequeue_sync(1, queue=queue)
    backend.reject_sync(leased, requeue=False, error="boom")
    return task


@override_settings(SYMPHRA={"BACKENDS": {
    "default": {"BACKEND": "tests.admin.test_isolation.MeetingBackend"},
    "other": {"BACKEND": "tests.admin.test_isolation.MeetingBackend"},
}})
def test_aliases_are_checked_at_the_same_time_not_one_after_the_other():
    statuses = status.all_statuses(timeout=30)
    assert [(s.alias, s.healthy, s.problem) for s in statuses] == [("default", True, None), ("other", True, None)]


@override_settings(SYMPHRA={"BACKENDS": {
    "default": {"BACKEND": "memory"},
    "hung": {"BACKEND": "tests.admin.test_isolation.HungBackend"},
    "hung2": {"BACKEND": "tests.admin.test_isolation.HungBackend"},
}})
def test_hung_aliases_are_reported_where_they_hang_and_the_reachable_one_is_exact():
    failed_task(backends["default"])
    backends["default"].enqueue_sync(TaskMessage(name="noop"))
    statuses = {s.alias: s for s in status.all_statuses(timeout=0.2)}
    assert sorted(HungBackend.entered) == ["hung", "hung2"]
    for alias in ("hung", "hung2"):
        assert not statuses[alias].healthy
        assert statuses[alias].problem == "no answer within 0.2s (connecting)"
    default = statuses["default"]
    assert default.healthy and default.problem is None
    [queue] = [q for q in default.queues if q.queue == "default"]
    assert (queue.stats.ready, queue.stats.failed) == (1, 1)


def down_brokers(closing: ClosingPort, silent: SilentPort) -> dict:
    return {"BACKENDS": {
        "default": {"BACKEND": "memory"},
        "refused": {"BACKEND": "redis", "OPTIONS": {"url": f"redis://:{SECRET}@127.0.0.1:1/0"}},
        "closing": {"BACKEND": "redis", "OPTIONS": {"url": f"redis://:{SECRET}@127.0.0.1:{closing.port}/0"}},
        "rabbit": {"BACKEND": "rabbitmq", "OPTIONS": {
            "url": f"amqp://user:{SECRET}@127.0.0.1:{closing.port}/%2F"}},
        "hung": {"BACKEND": "redis", "OPTIONS": {
            "url": f"redis://:{SECRET}@127.0.0.1:{silent.port}/0", "socket_timeout": 2}},
    }}


@pytest.fixture
def ports():
    closing, silent = ClosingPort(), SilentPort()
    yield closing, silent
    closing.close()
    silent.close()


def test_each_down_broker_shows_its_own_masked_cause_beside_a_healthy_alias(ports):
    with override_settings(SYMPHRA=down_brokers(*ports)):
        backends["default"].enqueue_sync(TaskMessage(name="noop"))
        statuses = {s.alias: s for s in status.all_statuses(timeout=1.5)}
    assert statuses["default"].healthy
    assert [q.stats.ready for q in statuses["default"].queues if q.queue == "default"] == [1]
    assert "cannot reach Redis at redis://:***@127.0.0.1:1/0" in statuses["refused"].problem
    assert "refused" in statuses["refused"].problem.lower()
    assert f"redis://:***@127.0.0.1:{ports[0].port}/0" in statuses["closing"].problem
    assert statuses["rabbit"].problem and "within" not in statuses["rabbit"].problem
    assert statuses["hung"].problem == "no answer within 1.5s (connecting)"
    for alias in ("refused", "closing", "rabbit", "hung"):
        assert not statuses[alias].healthy
        assert SECRET not in statuses[alias].problem, alias


def test_taskstatus_names_exactly_the_aliases_that_are_down(ports):
    out = StringIO()
    with override_settings(SYMPHRA=down_brokers(*ports)), pytest.raises(CommandError) as raised:
        call_command("taskstatus", "--json", "--timeout", "1.5", stdout=out)
    assert str(raised.value) == "unhealthy backend(s): refused, closing, rabbit, hung"
    assert raised.value.returncode == 1
    healthy = {b["alias"]: b["healthy"] for b in json.loads(out.getvalue())["backends"]}
    assert healthy == {"default": True, "refused": False, "closing": False, "rabbit": False, "hung": False}
    assert SECRET not in out.getvalue()


def test_wrong_rabbitmq_credentials_show_the_brokers_answer():
    require("rabbitmq")
    config = {"BACKENDS": {
        "default": {"BACKEND": "memory"},
        "rabbit": {"BACKEND": "rabbitmq", "OPTIONS": {"url": f"amqp://guest:{SECRET}@127.0.0.1:5672/%2F"}},
    }}
    with override_settings(SYMPHRA=config):
        statuses = {s.alias: s for s in status.all_statuses(timeout=10)}
    assert statuses["default"].healthy
    assert "ACCESS_REFUSED" in statuses["rabbit"].problem
    assert SECRET not in statuses["rabbit"].problem


@pytest.fixture
def operator(client, django_user_model):
    client.force_login(make_user(django_user_model, "operator", perms=OPERATIONS_PERMISSIONS))
    return client


@override_settings(SYMPHRA={"BACKENDS": {
    "default": {"BACKEND": "memory"},
    "hung": {"BACKEND": "tests.admin.test_isolation.HungBackend"},
}})
def test_the_dashboard_shows_the_reachable_alias_and_where_the_other_hangs(operator, short_deadline):
    backends["default"].enqueue_sync(TaskMessage(name="noop"))
    response = operator.get(reverse("admin:symphra_django_queue_changelist"))
    statuses = {s.alias: s for s in response.context["backends"]}
    assert statuses["default"].healthy
    assert [q.stats.ready for q in statuses["default"].queues if q.queue == "default"] == [1]
    assert statuses["hung"].problem == "no answer within 0.2s (connecting)"
    assert "no answer within 0.2s (connecting)" in response.content.decode()


@override_settings(SYMPHRA={"BACKENDS": {
    "default": {"BACKEND": "memory"},
    "hung": {"BACKEND": "tests.admin.test_isolation.HungBackend"},
}})
def test_the_failed_page_filtered_to_one_alias_does_not_touch_the_others(operator, short_deadline):
    task = failed_task(backends["default"])
    body = operator.get(reverse("admin:symphra_django_failedtask_changelist") + "?alias=default").content.decode()
    assert task.id in body
    assert HungBackend.entered == []
    everything = operator.get(reverse("admin:symphra_django_failedtask_changelist")).content.decode()
    assert task.id in everything
    assert "no answer within 0.2s (connecting)" in everything
