"""The runnable blocks of each docs page run as written, in a fresh project
(``startproject mysite`` with symphra_django and the page's apps installed);
then what the page says they do is checked."""

from __future__ import annotations

import re

import django
import pytest

from tests.docs.snippets import DOCS, DocProject

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path):
    project = DocProject(tmp_path)
    project.startproject()
    yield project
    project.kill()


def test_tasks_page_declares_enqueues_and_shows_the_running_message(project):
    project.play(DOCS / "tasks.md")
    project.python("from reports.tasks import show_message\nshow_message.enqueue()")
    burst = project.manage("runscheduler", "--burst", "--queue", "default", "--no-beat")
    assert re.search(r"^[0-9a-f]{32} 1 of 3 \d{4}-\d\d-\d\dT[\d:.]+\+00:00$", burst.stdout, re.M), burst.stdout


def test_settings_page_example_passes_the_system_checks(project):
    project.play(DOCS / "settings.md")
    check = project.manage("check")
    assert "System check identified no issues" in check.stdout, check.stdout + check.stderr
    shown = project.python(
        "from symphra_django.backends import backends\n"
        "print(backends['default'].describe(), backends['fast'].describe())"
    ).stdout
    assert "DatabaseBackend(default" in shown and "RedisBackend(fast, redis://127.0.0.1:6379/0)" in shown


@pytest.mark.skipif(django.VERSION < (6,), reason="django.tasks needs Django 6")
def test_django_tasks_page_runs_a_django_task_through_runscheduler(project):
    project.play(DOCS / "django-tasks.md")
    task_id = project.python("from myapp.tasks import send_welcome\nprint(send_welcome.enqueue(5).id)").stdout.strip()
    project.manage("runscheduler", "--burst")
    result = project.python(
        f"from myapp.tasks import send_welcome\nr = send_welcome.get_result({task_id!r})\nprint(r.status, r.return_value)"
    )
    assert result.stdout.strip() == "SUCCESSFUL sent"
