"""The runnable blocks of each docs page run as written, in a fresh project
(``startproject mysite`` with symphra_django and the page's apps installed);
then what the page says they do is checked."""

from __future__ import annotations

import re
import shutil

import django
import pytest

from tests.docs.snippets import DOCS, DocProject, blocks
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """One project made and migrated; each test works on a copy of it."""
    base = DocProject(tmp_path_factory.mktemp("startproject"))
    base.startproject()
    return base.cwd


@pytest.fixture
def project(started, tmp_path):
    shutil.copytree(started, tmp_path / started.name)
    project = DocProject(tmp_path)
    project.cwd = tmp_path / started.name
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


COMING_FROM = DOCS / "coming-from-symphra-scheduler.md"


def test_coming_from_page_moves_a_queued_task_to_the_new_scheduler_which_runs_it(project):
    project.play(COMING_FROM)  # the working version runs as it is
    project.start("python manage.py runscheduler", where="the quickstart's tasks")
    wait_until(lambda: "Hello, symphra_django!" in project.output(0), timeout=30,
               message=lambda: f"hello_task to run\n{project.output(0)}")
    project.interrupt()
    [block] = [block for block in blocks(COMING_FROM) if block.action == "python" and "move_tasks(" in block.source]
    # The same code with a task queued in the old backend, and then a wait
    # for the new scheduler to run it where the page has "...".
    queued = "old_scheduler = Scheduler(backend=MemoryBackend())\n"
    waited = "...                        # the rest of your program\n"
    assert queued in block.source and waited in block.source
    source = (
        "import threading\n"
        "from symphra_django import TaskMessage\n"
        "ran = threading.Event()\n"
        "def ping():\n"
        "    ran.set()\n"
        + block.source.replace(queued, queued + (
            "ping_task = old_scheduler.register_task(ping, name='ping')\n"
            "old_scheduler.backend.enqueue_sync(TaskMessage(name='ping', id='ping-1'))\n"
        )).replace(waited, (
            "assert old_scheduler.backend.get_queue_size_sync() == 0\n"
            "assert ran.wait(30), 'the moved task did not run'\n"
        ))
    )
    project.python(source)


def test_scheduler_page_runs_tasks_with_a_scheduler_made_in_code(project):
    project.play(DOCS / "scheduler.md")
    assert project.printed_by("from symphra_django import Scheduler, task") == "building the report of 2026-01-31\n"


CHECK_AND_DESCRIBE = """
from django.core.management import call_command
from symphra_django.backends import backends

call_command("check", fail_level="WARNING")
print(backends["default"].describe())
"""


@pytest.mark.parametrize(("page", "described"), [
    ("backends/database.md", "DatabaseBackend(default, database='default')"),
    ("backends/redis.md", "RedisBackend(default, redis://worker:***@redis.internal:6379/0)"),
    ("backends/rabbitmq.md", "RabbitMQBackend(default, amqp://app:***@rabbit.internal:5672/prod"),
])
def test_backend_page_settings_pass_the_checks_and_print_no_password(project, page, described):
    project.play(DOCS / page)
    shown = project.python(CHECK_AND_DESCRIBE).stdout
    assert described in shown and "secret" not in shown


def test_production_page_mounts_the_health_probes_in_a_new_project(project):
    project.play(DOCS / "production.md")
    shown = project.python(
        "import json\n"
        "from django.test import RequestFactory\n"
        "from django.urls import resolve\n"
        "for url in ('/health/live/', '/health/ready/', '/health/'):\n"
        "    response = resolve(url).func(RequestFactory().get(url))\n"
        "    print(url, response.status_code, json.loads(response.content)['ok'])\n"
    ).stdout
    # No runscheduler runs in the new project: the full check fails for want of a worker.
    assert shown.splitlines() == ["/health/live/ 200 True", "/health/ready/ 200 True", "/health/ 503 False"]
    check = project.shell("python manage.py taskstatus --check || echo exit=$?", where="taskstatus --check")
    assert "FAIL default/default: no live worker" in check.stdout
    assert check.stdout.rstrip().endswith("exit=3")
