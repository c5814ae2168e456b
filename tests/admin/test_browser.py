"""The operations admin in a real browser (headless Chromium through Selenium).

Logs in, watches the dashboard's counts change as tasks are enqueued, retries
a failed task and pauses a schedule. Screenshots go to ``SYMPHRA_SCREENSHOTS``
(docs/img when the docs are refreshed; a temporary directory otherwise).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from symphra_django import Scheduler
from symphra_django.messages import TaskMessage
from symphra_django.models import ThroughputMinute
from symphra_django.runtime.throughput import minute_start
from symphra_django.runtime.ticks import DatabaseLedger
from symphra_django.models import ScheduleState
from tests.sampleapp import tasks as sample
from tests.support.services import in_ci

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1200,760")
EVERY_SECOND = "tests.sampleapp.tasks.every_second"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        message = "chromium and chromium-driver are not installed (bash .ci/system-packages.sh)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture
def shots(tmp_path):
    directory = Path(os.environ.get("SYMPHRA_SCREENSHOTS") or tmp_path / "shots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def text_of(browser, css: str) -> str:
    return browser.find_element("css selector", css).text


def no_sideways_scroll(browser) -> None:
    width, visible = browser.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert width <= visible, f"the page is {width}px wide in a {visible}px window"


def lines_of(browser, element) -> int:
    """How many lines an inline element's text takes."""
    return int(browser.execute_script("return arguments[0].getClientRects().length", element))


def log_in(browser, url: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(url)
    browser.find_element(By.NAME, "username").send_keys("ops")
    browser.find_element(By.NAME, "password").send_keys("a-long-pass-phrase")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # A narrower page without the admin's nav sidebar makes smaller screenshots.
    browser.execute_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")


def test_an_operator_watches_queues_retries_a_failure_and_pauses_a_schedule(
    browser, live_server, django_user_model, memory, events, shots, monkeypatch
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    django_user_model.objects.create_superuser("ops", "ops@example.com", "a-long-pass-phrase")
    # Some history for the chart and a failure to retry: a real worker run.
    for i in range(5):
        sample.remember.enqueue(i)
    sample.always_fails.using(task_id="flaky-report").enqueue()
    Scheduler(memory, beat=False, ledger=DatabaseLedger(), workers=2).run_burst()
    ScheduleState.objects.create(name=EVERY_SECOND)
    # An hour of steady work with one burst: every minute stays visible.
    for ago in range(2, 58):
        done = 12_400 if ago == 31 else 20 + ago % 7
        ThroughputMinute.objects.create(alias="default", queue="default", minute=minute_start(time.time() - 60 * ago),
                                        done=done, failed=300 if ago == 31 else ago % 3)
    # Declared enabled only for the end-to-end runs; shown here as a live schedule.
    monkeypatch.setattr(sample.every_second, "enabled", True)

    log_in(browser, live_server.url + "/admin/symphra_django/queue/")

    assert "healthy" in text_of(browser, "#backend-default h2")
    assert text_of(browser, "#queue-default-default .ready") == "0"
    for i in range(3):
        sample.remember.enqueue(100 + i)
    sample.remember.enqueue({"report": "quarterly", "recipients": [f"team-{n}@example.com" for n in range(40)]})
    sample.send_email.enqueue("ops@example.com")
    browser.refresh()
    assert text_of(browser, "#queue-default-default .ready") == "4"
    assert text_of(browser, "#queue-default-emails .ready") == "1"
    assert text_of(browser, "#queue-default-default .failed") == "1"
    bars = browser.find_elements(By.CSS_SELECTOR, "svg.symphra-chart rect.symphra-done")
    assert len(bars) >= 57 and all(float(bar.get_attribute("height")) >= 1 for bar in bars)
    assert "12.7k" in text_of(browser, "svg.symphra-chart"), "the burst, drawn cut, says its total"
    browser.save_screenshot(str(shots / "admin-dashboard.png"))

    browser.find_element(By.CSS_SELECTOR, "#queue-default-default .failed a").click()
    assert "this task always fails" in text_of(browser, "#result_list")
    browser.find_element(By.CSS_SELECTOR, "tr[data-task-id=flaky-report] summary").click()
    browser.find_element(By.CSS_SELECTOR, "tr[data-task-id=flaky-report] input.action-select").click()
    assert text_of(browser, ".action-counter") == "1 of 1 selected"
    Select(browser.find_element(By.NAME, "action")).select_by_value("retry")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    assert "1 failed task(s) of default (default) retried" in text_of(browser, "ul.messagelist")
    assert memory.get_status_sync("flaky-report", "default") == "ready"

    browser.get(live_server.url + "/admin/symphra_django/queue/default/default/")
    assert "flaky-report" in browser.find_element(By.ID, "content-main").text
    no_sideways_scroll(browser)
    # The due time keeps its date on one line beside a long argument.
    for due in browser.find_elements(By.CSS_SELECTOR, "td.symphra-time time"):
        assert lines_of(browser, due) == 1, f"the due time {due.text!r} wraps"
    browser.save_screenshot(str(shots / "admin-queue.png"))
    browser.find_element(By.LINK_TEXT, "flaky-report").click()
    assert text_of(browser, "td.state") == "ready"
    assert text_of(browser, "td.attempts").startswith("0 of 2")
    browser.save_screenshot(str(shots / "admin-task.png"))

    browser.get(live_server.url + "/admin/symphra_django/schedulestate/")
    row = f"tr[data-name='{EVERY_SECOND}']"
    assert "yes" in text_of(browser, f"{row} .enabled")
    browser.find_element(By.CSS_SELECTOR, f"{row} button[formaction$='pause/']").click()
    assert f"Schedule {EVERY_SECOND} paused." in text_of(browser, "ul.messagelist")
    assert text_of(browser, f"{row} .enabled") == "no"
    assert text_of(browser, f"{row} .next-run") == "paused"
    assert ScheduleState.objects.get(name=EVERY_SECOND).enabled is False
    browser.save_screenshot(str(shots / "admin-schedules.png"))

    browser.get(live_server.url + "/admin/symphra_django/queue/default/default/purge/")
    assert text_of(browser, "#purge-count") == "5"
    browser.save_screenshot(str(shots / "admin-purge.png"))


def fail(backend, task_id: str, name: str, error: str, queue: str = "default", args=()) -> None:
    backend.enqueue_sync(TaskMessage(name=name, id=task_id, queue=queue, args=list(args), max_attempts=1))
    [leased] = backend.dequeue_sync(1, queue=queue)
    backend.reject_sync(leased, error=error, traceback=f"Traceback (most recent call last):\n  {name}\n{error}")


def test_an_operator_filters_failed_tasks_and_retries_every_match_on_every_page(
    browser, live_server, django_user_model, memory, shots
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    django_user_model.objects.create_superuser("ops", "ops@example.com", "a-long-pass-phrase")
    for n in range(120):
        fail(memory, f"invoice-{n:04}", "billing.tasks.send_invoice", f"ValueError: invoice {n} has no customer",
             args=[n])
    for n in range(6):
        fail(memory, f"welcome-{n}", "accounts.tasks.send_welcome", "SMTPRecipientsRefused: {'a@b': (550, 'no')}",
             queue="emails")
    for n in range(4):
        fail(memory, f"export-{n}", "reports.tasks.export", "KeyError: 'region'", queue="reports")

    browser.set_window_size(1440, 900)
    log_in(browser, live_server.url + "/admin/symphra_django/failedtask/?error=ValueError&failed=24h")
    browser.refresh()  # without the nav sidebar
    assert text_of(browser, "#result-count").startswith("120 results (130 total)")
    assert "invoice 119 has no customer" in text_of(browser, "#result_list tbody tr:first-child")
    selected = browser.find_elements(By.CSS_SELECTOR, "#changelist-filter li.selected")
    assert [li.text for li in selected] == ["All", "All", "All", "ValueError", "Last 24 hours"]
    browser.find_element(By.ID, "action-toggle").click()
    assert text_of(browser, ".action-counter") == "100 of 100 selected"
    browser.find_element(By.CSS_SELECTOR, ".actions .question a").click()
    assert text_of(browser, ".actions .all") == "All 120 selected"
    Select(browser.find_element(By.NAME, "action")).select_by_value("retry")
    no_sideways_scroll(browser)
    browser.save_screenshot(str(shots / "admin-failed.png"))
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    assert "120 failed task(s) of default (default) retried" in text_of(browser, "ul.messagelist")
    assert memory.get_stats_sync("default").ready == 120
    assert memory.get_stats_sync("emails").failed == 6 and memory.get_stats_sync("reports").failed == 4
