"""Prometheus metrics: the endpoint's text parses, counters follow the task
events, labels stay bounded, a stuck backend costs a scrape only its
deadline, and a missing prometheus_client is a system check error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import RequestFactory, override_settings
from prometheus_client.parser import text_string_to_metric_families

from symphra_django import Scheduler, checks, prometheus
from symphra_django.backends import backends
from symphra_django.backends.memory import MemoryBackend
from symphra_django.messages import TaskMessage
from symphra_django.prometheus import events as counters
from symphra_django.prometheus.views import metrics
from tests.sampleapp import tasks as sample

REMEMBER = "tests.sampleapp.tasks.remember"


@pytest.fixture
def counting() -> Iterator[None]:
    prometheus.enable()
    yield
    counters.disconnect()


def scrape(remote_addr: str = "127.0.0.1") -> dict[tuple[str, tuple], float]:
    """The endpoint's samples: (name, sorted labels) → value."""
    response = metrics(RequestFactory().get("/metrics", REMOTE_ADDR=remote_addr))
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def burst() -> None:
    Scheduler("default", beat=False, workers=1, poll_interval=0.01).run_burst()


def test_counters_and_histograms_follow_the_task_events(memory, events, counting):
    key = {"backend": "default", "queue": "default", "task": REMEMBER}
    fails = {**key, "task": "tests.sampleapp.tasks.always_fails"}
    before = scrape()
    for i in range(3):
        sample.remember.enqueue(i)
    sample.always_fails.enqueue()
    burst()
    after = scrape()

    def grew(name, labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("symphra_tasks_enqueued_total", key) == 3
    assert grew("symphra_tasks_started_total", key) == 3
    assert grew("symphra_tasks_succeeded_total", key) == 3
    assert grew("symphra_task_duration_seconds_count", key) == 3
    assert grew("symphra_task_lateness_seconds_count", key) == 3
    assert grew("symphra_tasks_started_total", fails) == 2
    assert grew("symphra_tasks_retried_total", fails) == 1
    assert grew("symphra_tasks_failed_total", fails) == 1
    assert grew("symphra_task_duration_seconds_count", fails) == 2


def test_queue_state_is_read_at_scrape_time(memory):
    memory.enqueue_sync(TaskMessage(name=REMEMBER, scheduled_time=time.time() - 30))
    sample.remember.enqueue(2, delay=600)
    sample.send_email.enqueue("a@example.com")
    samples = scrape()
    assert value(samples, "symphra_backend_up", backend="default") == 1
    assert value(samples, "symphra_queue_tasks", backend="default", queue="default", state="ready") == 1
    assert value(samples, "symphra_queue_tasks", backend="default", queue="default", state="delayed") == 1
    assert value(samples, "symphra_queue_tasks", backend="default", queue="emails", state="ready") == 1
    assert value(samples, "symphra_queue_oldest_due_age_seconds", backend="default", queue="default") >= 30


def test_a_queue_nobody_declared_is_counted_as_other(memory):
    for index in range(3):
        memory.enqueue_sync(TaskMessage(name="x", queue=f"stray{index}"))
    samples = scrape()
    assert value(samples, "symphra_queue_tasks", backend="default", queue="other", state="ready") == 3
    assert not any(("stray" in dict(labels).get("queue", "")) for _, labels in samples)


def test_an_unknown_task_and_too_many_queues_are_labelled_other(memory, counting, monkeypatch):
    memory.enqueue_sync(TaskMessage(name="forged.name.1"))
    burst()
    samples = scrape()
    assert value(samples, "symphra_tasks_failed_total", backend="default", queue="default", task="other") >= 1
    assert not any("forged" in dict(labels).get("task", "") for _, labels in samples)
    monkeypatch.setattr(counters, "_queues", set())
    labels = {counters.queue_label(f"q{index}") for index in range(counters.MAX_QUEUE_LABELS + 50)}
    assert len(labels) == counters.MAX_QUEUE_LABELS + 1 and "other" in labels


class Stuck(MemoryBackend):
    """Its health check hangs until the test lets it go: a broker that
    accepts connections and never answers."""

    release = threading.Event()

    def health_check_sync(self) -> bool:
        type(self).release.wait(30)
        return True


@override_settings(SYMPHRA={
    "BACKENDS": {"default": {"BACKEND": "memory"},
                 "stuck": {"BACKEND": "tests.observability.test_prometheus.Stuck"}},
    "PROMETHEUS": {"SCRAPE_TIMEOUT": 0.2},
})
def test_a_stuck_backend_is_down_in_the_scrape_and_the_others_are_counted():
    Stuck.release.clear()
    try:
        backends["default"].enqueue_sync(TaskMessage(name="x"))
        samples = scrape()  # returns while Stuck still hangs: the deadline
        assert not Stuck.release.is_set()
        assert value(samples, "symphra_backend_up", backend="stuck") == 0
        assert value(samples, "symphra_backend_up", backend="default") == 1
        assert value(samples, "symphra_queue_tasks", backend="default", queue="default", state="ready") == 1
    finally:
        Stuck.release.set()
        backends.close_all()


class WithoutRegistry(MemoryBackend):
    """A backend that keeps no registry of its workers."""

    reports_workers = False


@override_settings(SYMPHRA={"BACKENDS": {
    "default": {"BACKEND": "memory"},
    "unregistered": {"BACKEND": "tests.observability.test_prometheus.WithoutRegistry"},
}})
def test_live_workers_are_counted_for_backends_that_register_them():
    from symphra_django.backends.workers import WorkerRecord

    try:
        now = time.time()
        for pid, ago in ((1, 1.0), (2, 2.0), (3, 3600.0)):  # the last one is gone
            record = WorkerRecord(worker_id=f"host:{pid}", host="host", pid=pid, version="0", backend="default",
                                  queues=["default"], threads=4, started_at=now - 7200, heartbeat_at=now - ago)
            backends["default"].save_worker_sync(record.worker_id, record.to_json(), 7200)
        samples = scrape()
    finally:
        backends.close_all()
    assert value(samples, "symphra_workers", backend="default") == 2
    assert ("symphra_workers", (("backend", "unregistered"),)) not in samples


@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory"}},
                            "PROMETHEUS": {"ALLOWED_NETWORKS": ["10.0.0.0/8", "::1"]}})
def test_the_view_answers_only_the_allowed_networks():
    assert value(scrape("10.1.2.3"), "symphra_backend_up", backend="default") == 1
    assert value(scrape("::1"), "symphra_backend_up", backend="default") == 1
    response = metrics(RequestFactory().get("/metrics", REMOTE_ADDR="192.168.1.1"))
    assert response.status_code == 403


@pytest.mark.parametrize("setting", [True, {"SCRAPE_TIMEOUT": 1}])
def test_metrics_asked_for_without_prometheus_client_is_error_e009(settings, monkeypatch, setting):
    settings.SYMPHRA = {"PROMETHEUS": setting}
    monkeypatch.setattr(prometheus, "available", lambda: False)
    errors = [e for e in checks.check_settings() if e.id == "symphra_django.E009"]
    assert len(errors) == 1 and "prometheus_client" in errors[0].msg
    assert "symphra-django[prometheus]" in errors[0].hint
    response = metrics(RequestFactory().get("/metrics"))
    assert response.status_code == 503 and b"prometheus_client" in response.content


def test_no_check_error_when_metrics_are_off_or_available(settings, monkeypatch):
    settings.SYMPHRA = {"PROMETHEUS": True}
    assert not [e for e in checks.check_settings() if e.id == "symphra_django.E009"]
    settings.SYMPHRA = {"PROMETHEUS": False}
    monkeypatch.setattr(prometheus, "available", lambda: False)
    assert not [e for e in checks.check_settings() if e.id == "symphra_django.E009"]


@pytest.mark.parametrize("bad", ["yes", {"SCRAPE_TIMEOUT": 0}, {"ALLOWED_NETWORKS": "10.0.0.0/8"},
                                 {"ALLOWED_NETWORKS": ["not-an-ip"]}, {"PORT": 9}])
def test_a_bad_prometheus_setting_is_error_e001_naming_it(settings, bad):
    settings.SYMPHRA = {"PROMETHEUS": bad}
    [error] = [e for e in checks.check_settings() if e.id == "symphra_django.E001"]
    assert "SYMPHRA['PROMETHEUS']" in error.msg


def test_runscheduler_metrics_port_says_what_is_missing(monkeypatch):
    with pytest.raises(CommandError, match="PROMETHEUS_MULTIPROC_DIR"):
        call_command("runscheduler", "--metrics-port", "9100", "--processes", "2")
    with pytest.raises(CommandError, match="1 to 65535"):
        call_command("runscheduler", "--metrics-port", "70000")
    monkeypatch.setattr(prometheus, "available", lambda: False)
    with pytest.raises(CommandError, match=r"symphra-django\[prometheus\]"):
        call_command("runscheduler", "--metrics-port", "9100")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_worker_metrics_server_serves_the_same_metrics(memory, events):
    import urllib.request

    from symphra_django.runtime.processes import RunOptions, start_metrics

    port = free_port()
    server = start_metrics(RunOptions(metrics_port=port, metrics_address="127.0.0.1"))
    try:
        sample.remember.enqueue(1)
        burst()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        counters.disconnect()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"symphra_tasks_started", "symphra_task_duration_seconds", "symphra_queue_tasks",
            "symphra_backend_up"} <= names


def test_a_port_in_use_is_one_clear_error():
    import socket

    from symphra_django.runtime.processes import RunOptions, start_metrics

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ValueError, match=f"cannot listen on 127.0.0.1:{port}"):
            start_metrics(RunOptions(metrics_port=port, metrics_address="127.0.0.1"))
    counters.disconnect()


def test_the_grafana_dashboard_uses_only_metrics_the_endpoint_serves(memory, counting):
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parents[2] / "docs/grafana/symphra-dashboard.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\bsymphra_\w+", target["expr"])}
    response = metrics(RequestFactory().get("/metrics"))
    served = {family.name for family in text_string_to_metric_families(response.content.decode())}
    bases = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    assert used and bases <= served, bases - served
