"""A new user's first hour: each step of the installation left out, in a
brand-new project (``startproject``), is reported where it first matters
with one message that says what to do, never a database error or a
generic Django one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT

TASKS_PY = '''
from pathlib import Path

from symphra_django import task


@task
def touch(name):
    Path(__file__).resolve().parent.parent.joinpath(name).write_text("ran")
'''
ENQUEUE = "from shop.tasks import touch; touch.enqueue('marker.txt')"
#: Every migration of the app is unapplied in a project that never ran migrate.
MIGRATIONS = len([p for p in (Path(__file__).resolve().parents[2] / "symphra_django" / "migrations").glob("0*.py")])
MIGRATE_LINE = (f"symphra_django's tables are not created in database 'default' ({MIGRATIONS} migration(s) not "
                "applied): run `python manage.py migrate`.")


class NewProject:
    """``startproject mysite`` + ``startapp shop`` with a tasks.py, and the
    apps of ``installed`` added to INSTALLED_APPS."""

    def __init__(self, path: Path, installed: list[str]) -> None:
        self.path = path
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        assert self.run("-m", "django", "startproject", "mysite", ".").returncode == 0
        assert self.manage("startapp", "shop").returncode == 0
        (path / "shop" / "tasks.py").write_text(TASKS_PY)
        settings = path / "mysite" / "settings.py"
        apps = "".join(f'\n    "{app}",' for app in installed)
        settings.write_text(settings.read_text().replace("INSTALLED_APPS = [", "INSTALLED_APPS = [" + apps, 1))

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=self.path, env=self.env, capture_output=True,
                              text=True, timeout=120)

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("manage.py", *args)

    def ran(self) -> bool:
        return (self.path / "marker.txt").exists()


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@pytest.mark.slow
def test_forgetting_migrate_is_one_line_naming_migrate_everywhere(tmp_path: Path):
    project = NewProject(tmp_path, ["symphra_django", "shop"])

    checked = project.manage("check", "--database", "default")
    assert f"(symphra_django.W002) {MIGRATE_LINE}" in checked.stderr

    enqueued = project.manage("shell", "-c", ENQUEUE)
    assert enqueued.returncode != 0
    assert last_line(enqueued.stderr) == f"symphra_django.exceptions.NotMigrated: {MIGRATE_LINE}"
    assert "OperationalError" not in enqueued.stderr

    started = project.manage("runscheduler", "--burst")
    assert started.returncode == 1
    assert "Traceback" not in started.stderr
    assert last_line(started.stderr) == f"CommandError: {MIGRATE_LINE}"

    pruned = project.manage("prunetasks")
    assert pruned.returncode == 1
    assert last_line(pruned.stderr) == f"CommandError: {MIGRATE_LINE}"

    status = project.manage("taskstatus", "--json")
    assert status.returncode == 1
    [backend] = json.loads(status.stdout)["backends"]
    assert backend["healthy"] is False and backend["problem"] == f"NotMigrated: {MIGRATE_LINE}"

    migrated = project.manage("migrate", "--noinput", "-v0")
    assert migrated.returncode == 0
    assert "W002" not in migrated.stderr  # migrate is doing what it would say
    assert project.manage("shell", "-c", ENQUEUE).returncode == 0
    assert project.manage("runscheduler", "--burst").returncode == 0
    assert project.ran()
    assert project.manage("taskstatus").returncode == 0
    assert "W002" not in project.manage("check", "--database", "default").stderr


@pytest.mark.slow
def test_leaving_symphra_django_out_of_installed_apps_says_to_add_it(tmp_path: Path):
    project = NewProject(tmp_path, ["shop"])
    said = ("django.core.exceptions.ImproperlyConfigured: 'symphra_django' is not in INSTALLED_APPS: add it there. "
            "It holds the queue tables, finds the tasks.py of every installed app and provides the runscheduler "
            "command.")
    for code in ("import shop.tasks", "from symphra_django.models import QueuedTask"):
        result = project.manage("shell", "-c", code)
        assert result.returncode != 0
        assert last_line(result.stderr) == said
        assert "app_label" not in result.stderr


@pytest.mark.slow
def test_leaving_ones_own_app_out_warns_at_enqueue_and_the_failure_says_why(tmp_path: Path):
    project = NewProject(tmp_path, ["symphra_django"])
    assert project.manage("migrate", "--noinput", "-v0").returncode == 0

    enqueued = project.manage("shell", "-c", ENQUEUE)
    assert enqueued.returncode == 0
    assert ("task shop.tasks.touch is declared in module 'shop.tasks', which belongs to no app in INSTALLED_APPS: "
            "runscheduler will not know it") in enqueued.stderr

    worked = project.manage("runscheduler", "--burst")
    assert worked.returncode == 0
    assert not project.ran()
    assert ("unknown task 'shop.tasks.touch': not declared in this worker, which knows the tasks in the tasks.py "
            "of each app in INSTALLED_APPS (is the app that declares it there?)") in worked.stderr
    assert "stopped: 0 run(s), 0 succeeded, 1 failed (1 without running" in worked.stderr

    status = json.loads(project.manage("taskstatus", "--json").stdout)
    assert sum(q["failed"] for q in status["backends"][0]["queues"]) == 1
