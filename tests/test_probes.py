"""The health probes (``symphra_django.urls``) and ``taskstatus --check``:
backends reachable, live workers for each configured queue, backlog age."""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from symphra_django import conf
from symphra_django.backends.workers import WorkerRecord
from symphra_django.messages import TaskMessage
from symphra_django.ops import health

QUEUES = ["default", "emails", "reports"]  # tests/settings.py
WITH_A_DOWN_BACKEND = {
    "BACKENDS": {"default": {"BACKEND": "memory"}, "down": {"BACKEND": "tests.admin.test_pages.DownBackend"}},
    "QUEUES": QUEUES,
}
WITHOUT_A_REGISTRY = {
    "BACKENDS": {"default": {"BACKEND": "tests.admin.test_workers_page.SilentBackend"}},
    "QUEUES": QUEUES,
}


def live_worker(backend, worker_id="host:1", queues=QUEUES, ago=1.0, threads=4):
    now = time.time()
    record = WorkerRecord(worker_id=worker_id, queues=list(queues), threads=threads, started_at=now - 60,
                          heartbeat_at=now - ago)
    backend.save_worker_sync(worker_id, record.to_json(), 600)


def check(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("taskstatus", "--check", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


class TestTheFullCheck:
    def test_passes_with_a_live_worker_on_every_queue_and_no_backlog(self, client, memory):
        live_worker(memory)
        response = client.get("/health/")
        assert response.status_code == 200
        data = response.json()
        assert data["ok"] is True and data["problems"] == []
        [alias] = data["backends"]
        assert {q["queue"]: q["workers"] for q in alias["queues"]} == dict.fromkeys(QUEUES, 1)
        assert response["Cache-Control"].startswith("max-age=0")

    def test_fails_for_a_queue_without_a_live_worker(self, client, memory):
        live_worker(memory, queues=["default", "emails"])
        live_worker(memory, "gone:2", ago=conf.get("WORKER_TIMEOUT") + 1)
        live_worker(memory, "beat:3", threads=0)  # a beat-only process consumes nothing
        response = client.get("/health/")
        assert response.status_code == 503
        assert response.json()["problems"] == ["default/reports: no live worker"]

    def test_fails_when_the_oldest_due_task_waits_too_long(self, client, memory):
        live_worker(memory)
        memory.enqueue_sync(TaskMessage(name="noop", scheduled_time=time.time() - 120))
        assert client.get("/health/").status_code == 200  # SYMPHRA["MAX_DUE_AGE"]: 300 s
        response = client.get("/health/?max_due_age=60")
        assert response.status_code == 503
        [problem] = response.json()["problems"]
        assert problem.startswith("default/default: oldest due task waits 12")

    @pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf"])
    def test_refuses_a_bad_threshold(self, client, memory, value):
        assert client.get(f"/health/?max_due_age={value}").status_code == 400

    @override_settings(SYMPHRA=WITH_A_DOWN_BACKEND)
    def test_fails_for_a_backend_that_does_not_answer(self, client):
        response = client.get("/health/")
        assert response.status_code == 503
        assert "down: unreachable (health check failed)" in response.json()["problems"]

    @override_settings(SYMPHRA=WITHOUT_A_REGISTRY)
    def test_does_not_count_workers_a_backend_does_not_report(self, client):
        response = client.get("/health/")
        assert response.status_code == 200
        [alias] = response.json()["backends"]
        assert alias["workers_reported"] is False
        assert {q["workers"] for q in alias["queues"]} == {None}


class TestLivenessAndReadiness:
    @override_settings(SYMPHRA=WITH_A_DOWN_BACKEND)
    def test_liveness_touches_no_backend(self, client):
        response = client.get("/health/live/")
        assert (response.status_code, response.json()) == (200, {"ok": True})

    def test_readiness_needs_every_backend_and_no_worker(self, client, memory):
        assert client.get("/health/ready/").status_code == 200

    @override_settings(SYMPHRA=WITH_A_DOWN_BACKEND)
    def test_readiness_fails_while_a_backend_is_down(self, client):
        response = client.get("/health/ready/")
        assert response.status_code == 503
        assert [b["reachable"] for b in response.json()["backends"]] == [True, False]

    def test_probes_answer_get_only(self, client, memory):
        assert client.post("/health/ready/").status_code == 405


class TestTaskstatusCheck:
    def test_exit_0_when_every_check_passes(self, memory):
        live_worker(memory)
        code, out = check()
        assert code == 0
        assert "live workers per queue: default 1, emails 1, reports 1" in out
        assert out.rstrip().endswith("all checks passed")

    def test_exit_3_for_a_queue_without_a_live_worker(self, memory):
        live_worker(memory, queues=["default"])
        code, out = check()
        assert code == health.EXIT_NO_WORKERS == 3
        assert "FAIL default/emails: no live worker" in out

    def test_exit_4_for_a_backlog_older_than_max_due_age(self, memory):
        live_worker(memory)
        memory.enqueue_sync(TaskMessage(name="noop", scheduled_time=time.time() - 120))
        assert check()[0] == 0
        code, out = check("--max-due-age", "60")
        assert code == health.EXIT_BACKLOG == 4
        assert "FAIL default/default: oldest due task waits 12" in out

    @override_settings(SYMPHRA=WITH_A_DOWN_BACKEND)
    def test_exit_1_for_an_unreachable_backend_wins_over_the_others(self):
        code, out = check()
        assert code == health.EXIT_UNREACHABLE == 1
        assert "down: unreachable" in out

    def test_json_carries_the_check(self, memory):
        live_worker(memory)
        code, out = check("--json")
        assert code == 0 and json.loads(out)["check"]["ok"] is True

    def test_max_due_age_needs_check(self, memory):
        with pytest.raises(CommandError, match="needs --check"):
            call_command("taskstatus", "--max-due-age", "5", stdout=StringIO())
