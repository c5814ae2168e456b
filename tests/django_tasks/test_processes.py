"""End to end with real processes (SQLite queue file): a project whose TASKS
names SymphraBackend enqueues a ``@django.tasks.task`` from a view in one
process, ``runscheduler --burst`` runs it in another, and a third process
reads the result."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("django.tasks", reason="django.tasks needs Django 6.0+")

from tests.support.processes import Project, finish  # noqa: E402

ENQUEUE_FROM_VIEW = """
import json
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
response = Client().post("/add/", {"a": 19, "b": 23})
assert response.status_code == 202, response.content
print(json.dumps(response.json()))
"""

READ_RESULT = """
import json
from tests.sampleapp.django_tasks import add
result = add.get_result({result_id!r})
print(json.dumps({{"status": str(result.status), "value": result.return_value,
                  "workers": result.worker_ids}}))
"""


@pytest.mark.slow
def test_a_call_enqueued_by_a_view_is_run_by_runscheduler_and_read_by_another_process(tmp_path):
    project = Project(tmp_path / "queue.sqlite3", DJANGO_SETTINGS_MODULE="tests.support.settings_django_tasks")
    try:
        migrated = project.manage("migrate", "--noinput", "-v0")
        assert migrated.returncode == 0, migrated.stderr
        enqueued = project.manage("shell", "-c", ENQUEUE_FROM_VIEW)
        assert enqueued.returncode == 0, enqueued.stderr
        queued = json.loads(enqueued.stdout.strip().splitlines()[-1])
        assert queued["status"] == "READY"

        code, out = finish(project.start("--burst", "--no-beat"))
        assert code == 0, out

        read = project.manage("shell", "-c", READ_RESULT.format(result_id=queued["id"]))
        assert read.returncode == 0, read.stderr
        result = json.loads(read.stdout.strip().splitlines()[-1])
        assert result["status"] == "SUCCESSFUL" and result["value"] == 42
        assert len(result["workers"]) == 1
    finally:
        project.stop_all()
