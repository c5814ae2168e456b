"""The issue's acceptance check, literally: a brand-new project (``startproject``)
whose TASKS names SymphraBackend enqueues a ``@django.tasks.task`` from a view,
``runscheduler --burst`` runs it, and ``get_result(id).status`` is SUCCESSFUL
with the return value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("django.tasks", reason="django.tasks needs Django 6.0+")

from tests.support.processes import ROOT  # noqa: E402

TASKS_PY = '''
from django.tasks import task


@task
def multiply(a, b):
    return a * b
'''

VIEWS_PY = '''
from django.http import JsonResponse

from .tasks import multiply


def order(request):
    result = multiply.enqueue(6, 7)
    return JsonResponse({"id": result.id})
'''

SETTINGS = '''
TASKS = {"default": {"BACKEND": "symphra_django.django_tasks.SymphraBackend"}}
ALLOWED_HOSTS = ["testserver"]
'''

CALL_VIEW = "from django.test import Client; print(Client().get('/order/').content.decode())"

READ_RESULT = '''
import json
from shop.tasks import multiply
result = multiply.get_result({result_id!r})
print(json.dumps([str(result.status), result.return_value]))
'''


@pytest.mark.slow
def test_a_startproject_project_runs_a_django_task_enqueued_by_a_view(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def run(*args: str) -> str:
        result = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    run("-m", "django", "startproject", "mysite", ".")
    run("manage.py", "startapp", "shop")
    (tmp_path / "shop" / "tasks.py").write_text(TASKS_PY)
    (tmp_path / "shop" / "views.py").write_text(VIEWS_PY)
    settings = tmp_path / "mysite" / "settings.py"
    settings.write_text(settings.read_text().replace(
        "INSTALLED_APPS = [", 'INSTALLED_APPS = [\n    "symphra_django",\n    "shop",', 1) + SETTINGS)
    urls = tmp_path / "mysite" / "urls.py"
    urls.write_text(urls.read_text().replace("from django.urls import path", "from django.urls import path\n"
                                             "from shop.views import order", 1)
                    .replace("urlpatterns = [", 'urlpatterns = [\n    path("order/", order),', 1))
    run("manage.py", "migrate", "--noinput", "-v0")
    result_id = json.loads(run("manage.py", "shell", "-c", CALL_VIEW).strip().splitlines()[-1])["id"]
    run("manage.py", "runscheduler", "--burst")
    status, value = json.loads(run("manage.py", "shell", "-c", READ_RESULT.format(result_id=result_id))
                               .strip().splitlines()[-1])
    assert (status, value) == ("SUCCESSFUL", 42)
