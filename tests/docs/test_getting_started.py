"""docs/getting-started.md, followed to the letter from an empty directory:
startproject, the app, its model, tasks, view and URLs, migrate, a superuser,
runserver, an order placed with curl, runscheduler; then the task has run and
the admin shows it, and Ctrl-C stops both servers cleanly."""

from __future__ import annotations

import http.cookiejar
import re
import sqlite3
import urllib.parse
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

from tests.docs.snippets import DOCS, PASSWORD, DocProject
from tests.support.waiting import wait_until

PAGE = DOCS / "getting-started.md"


def receipt_sent(database: Path) -> bool:
    """Whether order 1's receipt_sent is set (read without starting Django)."""
    with closing(sqlite3.connect(database, timeout=30)) as connection:
        return connection.execute("SELECT receipt_sent FROM shop_order WHERE id = 1").fetchone()[0] is not None


class Browser:
    """A logged-in admin session over HTTP, as the reader's browser."""

    def __init__(self, project: DocProject) -> None:
        self.project = project
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.project.url(path), timeout=30) as response:
            return response.read().decode()

    def log_in(self, username: str, password: str) -> None:
        form = self.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        data = urllib.parse.urlencode({
            "csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/",
        }).encode()
        request = urllib.request.Request(self.project.url("/admin/login/"), data=data,
                                         headers={"Referer": self.project.url("/admin/login/")})
        with self.opener.open(request, timeout=30) as response:
            assert response.geturl() == self.project.url("/admin/"), "the login failed"


@pytest.mark.slow
def test_the_tutorial_runs_a_task_enqueued_by_a_view_and_the_admin_shows_it(tmp_path):
    project = DocProject(tmp_path)
    try:
        project.play(PAGE)
        assert project.printed_by("curl http://127.0.0.1:8000/checkout/") == (
            "Order 1 for ada@example.com placed; its receipt is queued.\n")
        [_, counts] = project.printed_by("python manage.py taskstatus").splitlines()[:2]
        assert counts.split()[:6] == ["default", "default", "1", "0", "0", "0"], counts  # 1 ready, not run yet
        wait_until(lambda: receipt_sent(project.cwd / "db.sqlite3"), timeout=60,
                   message=lambda: f"the receipt to be sent\n{project.output(1)}")

        browser = Browser(project)
        browser.log_in("admin", PASSWORD)
        assert "Symphra tasks" in browser.get("/admin/")
        history = browser.get("/admin/symphra_django/queuedtask/")
        assert "shop.tasks.send_receipt" in history and "Done" in history
        assert "shop.tasks.forget_old_orders" in browser.get("/admin/symphra_django/schedulestate/")

        _runserver, runscheduler = project.interrupt()
    finally:
        project.kill()
    assert "2 task(s) declared, 1 periodic" in runscheduler
    assert re.search(r"stopped: 1 run\(s\), 1 succeeded, 0 failed", runscheduler), runscheduler
