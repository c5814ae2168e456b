"""``manage.py taskstatus``: the table, --json, and the exit code as a health check."""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from symphra_django.messages import TaskMessage
from tests.support.ports import SilentPort

SECRET = "s3cr3t-pw"
WITH_A_DOWN_BACKEND = {
    "BACKENDS": {
        "default": {"BACKEND": "memory"},
        "down": {"BACKEND": "tests.admin.test_pages.DownBackend"},
    },
}
WITH_A_PASSWORD = {
    "BACKENDS": {
        "default": {"BACKEND": "tests.admin.test_pages.UrlBackend",
                    "OPTIONS": {"url": f"redis://:{SECRET}@127.0.0.1:6379/0"}},
    },
}


def run(*args: str) -> str:
    out = StringIO()
    call_command("taskstatus", *args, stdout=out)
    return out.getvalue()


def test_table_shows_each_queue_with_counts_and_health(memory):
    memory.enqueue_sync(TaskMessage(name="noop", scheduled_time=time.time() - 90))
    memory.enqueue_sync(TaskMessage(name="noop", queue="emails", scheduled_time=time.time() + 600))
    lines = run().splitlines()
    assert lines[0].split() == ["alias", "queue", "ready", "delayed", "in", "flight", "failed", "oldest",
                                "due", "health"]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert rows["default"][:6] == ["default", "default", "1", "0", "0", "0"]
    assert rows["default"][6] in ("90s", "91s", "92s")
    assert rows["emails"][:6] == ["default", "emails", "0", "1", "0", "0"]
    assert rows["emails"][-1] == "ok"


def test_json_gives_the_same_counts_for_scripts(memory):
    memory.enqueue_sync(TaskMessage(name="noop"))
    data = json.loads(run("--json"))
    [backend] = data["backends"]
    assert backend["alias"] == "default" and backend["healthy"] is True
    default = [q for q in backend["queues"] if q["queue"] == "default"][0]
    assert (default["ready"], default["delayed"], default["in_flight"], default["failed"]) == (1, 0, 0, 0)


@override_settings(SYMPHRA=WITH_A_DOWN_BACKEND)
def test_an_unhealthy_backend_makes_the_exit_status_non_zero():
    with pytest.raises(CommandError) as raised:
        run()
    assert raised.value.returncode == 1
    assert "down" in str(raised.value)


@override_settings(SYMPHRA=WITH_A_DOWN_BACKEND)
def test_only_the_named_backend_is_checked_with_backend():
    assert "default" in run("--backend", "default")


def test_unknown_alias_is_a_clear_error(memory):
    with pytest.raises(CommandError, match="unknown backend alias 'nope'"):
        run("--backend", "nope")


@override_settings(SYMPHRA=WITH_A_PASSWORD)
def test_passwords_in_backend_urls_are_masked_in_json():
    out = run("--json")
    assert SECRET not in out
    assert "redis://:***@127.0.0.1:6379/0" in out


@override_settings(SYMPHRA={"BACKENDS": {
    "default": {"BACKEND": "memory"},
    "gone": {"BACKEND": "redis", "OPTIONS": {"url": "redis://127.0.0.1:1/0"}},
}, "CONNECT_RETRIES": 2})
def test_a_backend_that_cannot_connect_is_reported_down_with_the_reason_not_after_retries():
    out = StringIO()
    with pytest.raises(CommandError, match="gone"):
        call_command("taskstatus", "--json", "--timeout", "30", stdout=out)
    [gone] = [b for b in json.loads(out.getvalue())["backends"] if b["alias"] == "gone"]
    assert gone["healthy"] is False
    assert gone["backend"] == "RedisBackend(gone, redis://127.0.0.1:1/0)"
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in gone["problem"]


def test_a_backend_that_never_answers_is_reported_down_after_the_timeout():
    silent = SilentPort()
    config = {"BACKENDS": {
        "default": {"BACKEND": "memory"},
        "hung": {"BACKEND": "redis", "OPTIONS": {"url": f"redis://127.0.0.1:{silent.port}/0", "socket_timeout": 1}},
    }}
    out = StringIO()
    try:
        with override_settings(SYMPHRA=config), pytest.raises(CommandError, match="hung"):
            call_command("taskstatus", "--json", "--timeout", "0.1", stdout=out)
    finally:
        silent.close()
    [hung] = [b for b in json.loads(out.getvalue())["backends"] if b["alias"] == "hung"]
    assert hung["healthy"] is False
    assert hung["problem"] == "no answer within 0.1s (connecting)"


def test_a_backend_that_loses_its_tasks_on_restart_says_so():
    out = StringIO()
    with override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory"}}}):
        call_command("taskstatus", "--json", stdout=out)
    [default] = json.loads(out.getvalue())["backends"]
    assert default["durable"] is False
