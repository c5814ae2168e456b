"""A brand-new project from `django-admin startproject` runs its tasks with
nothing but "symphra_django" in INSTALLED_APPS (journey 1 of DESIGN.md)."""

from __future__ import annotations

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


@pytest.mark.slow
def test_a_startproject_project_runs_its_tasks_under_runscheduler(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def run(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    run("-m", "django", "startproject", "mysite", ".")
    run("manage.py", "startapp", "shop")
    (tmp_path / "shop" / "tasks.py").write_text(TASKS_PY)
    settings = tmp_path / "mysite" / "settings.py"
    settings.write_text(settings.read_text().replace(
        "INSTALLED_APPS = [", 'INSTALLED_APPS = [\n    "symphra_django",\n    "shop",', 1))
    run("manage.py", "migrate", "--noinput", "-v0")
    run("manage.py", "shell", "-c", "from shop.tasks import touch; touch.enqueue('marker.txt')")
    assert not (tmp_path / "marker.txt").exists()
    result = run("manage.py", "runscheduler", "--burst")
    assert (tmp_path / "marker.txt").read_text() == "ran"
    assert "DatabaseBackend" in result.stderr
