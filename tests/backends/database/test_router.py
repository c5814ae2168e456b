"""``QueueRouter``: the queue table in a database of its own."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from symphra_django.models import QueuedTask, ScheduleState
from symphra_django.routers import QueueRouter

ROOT = Path(__file__).resolve().parents[3]
ON_QUEUE_DB = {"default": {"BACKEND": "database", "OPTIONS": {"database": "queue"}}}


@pytest.fixture
def router():
    with override_settings(SYMPHRA={"BACKENDS": ON_QUEUE_DB}):
        yield QueueRouter()


def test_the_queue_model_reads_and_writes_in_the_queue_database(router):
    assert router.db_for_read(QueuedTask) == "queue"
    assert router.db_for_write(QueuedTask) == "queue"


def test_other_models_are_left_to_other_routers(router):
    assert router.db_for_write(ScheduleState) is None
    assert router.allow_migrate("default", "auth", model_name="user") is None


def test_the_queue_table_migrates_only_to_the_queue_database(router):
    assert router.allow_migrate("queue", "symphra_django", model_name="queuedtask") is True
    assert router.allow_migrate("default", "symphra_django", model_name="queuedtask") is False


def test_a_dedicated_queue_database_gets_no_other_table(router):
    assert router.allow_migrate("queue", "auth", model_name="user") is False
    assert router.allow_migrate("queue", "symphra_django", model_name="schedulestate") is False


def test_with_the_queue_on_default_nothing_is_routed():
    with override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "database"}}}):
        router = QueueRouter()
        assert router.allow_migrate("default", "symphra_django", model_name="queuedtask") is True
        assert router.allow_migrate("default", "auth", model_name="user") is None


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def manage(directory: Path, *args: str) -> str:
    env = {**os.environ, "SYMPHRA_ROUTER_DIR": str(directory),
           "DJANGO_SETTINGS_MODULE": "tests.support.settings_router", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "django", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_documented_example_keeps_the_queue_in_its_own_file(tmp_path):
    manage(tmp_path, "migrate", "-v0")
    manage(tmp_path, "migrate", "--database", "queue", "-v0")
    assert "symphra_task_queue" not in tables(tmp_path / "main.sqlite3")
    assert "auth_user" in tables(tmp_path / "main.sqlite3")
    assert "symphra_task_queue" in tables(tmp_path / "queue.sqlite3")
    assert "auth_user" not in tables(tmp_path / "queue.sqlite3")
    out = manage(tmp_path, "shell", "-v0", "-c", (
        "from symphra_django.backends import backends;"
        "from symphra_django.messages import TaskMessage;"
        "b = backends['default'];"
        "b.enqueue_sync(TaskMessage(name='demo', id='routed'));"
        "print(b.dequeue_sync(1)[0].id)"
    ))
    assert out.strip() == "routed"
    with sqlite3.connect(tmp_path / "queue.sqlite3") as db:
        assert db.execute("SELECT status FROM symphra_task_queue").fetchall() == [("in_flight",)]
