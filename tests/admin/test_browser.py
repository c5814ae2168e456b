"""The operations admin in a real browser (headless Chromium through Selenium).

Logs in, watches the dashboard's counts change as tasks are enqueued, retries
a failed task and pauses a schedule. Screenshots go to ``SYMPHRA_SCREENSHOTS``
(docs/img when the docs are refreshed; a temporary directory otherwise).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from symphra_django import Scheduler
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


def test_an_operator_watches_queues_retries_a_failure_and_pauses_a_schedule(
    browser, live_server, django_user_model, memory, events, shots, monkeypatch
):
    from selenium.webdriver.common.by import By

    django_user_model.objects.create_superuser("ops", "ops@example.com", "a-long-pass-phrase")
    # Some history for the chart and a failure to retry: a real worker run.
    for i in range(5):
        sample.remember.enqueue(i)
    sample.always_fails.using(task_id="flaky-report").enqueue()
    Scheduler(memory, beat=False, ledger=DatabaseLedger(), workers=2).run_burst()
    ScheduleState.objects.create(name=EVERY_SECOND)
    # Declared enabled only for the end-to-end runs; shown here as a live schedule.
    monkeypatch.setattr(sample.every_second, "enabled", True)

    browser.get(live_server.url + "/admin/symphra_django/queue/")
    browser.find_element(By.NAME, "username").send_keys("ops")
    browser.find_element(By.NAME, "password").send_keys("a-long-pass-phrase")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # A narrower page without the admin's nav sidebar makes smaller screenshots.
    browser.execute_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")

    assert "healthy" in text_of(browser, "#backend-default h2")
    assert text_of(browser, "#queue-default-default .ready") == "0"
    for i in range(3):
        sample.remember.enqueue(100 + i)
    sample.send_email.enqueue("ops@example.com")
    browser.refresh()
    assert text_of(browser, "#queue-default-default .ready") == "3"
    assert text_of(browser, "#queue-default-emails .ready") == "1"
    assert text_of(browser, "#queue-default-default .failed") == "1"
    assert browser.find_elements(By.CSS_SELECTOR, "svg.symphra-chart rect.symphra-done")
    browser.save_screenshot(str(shots / "admin-dashboard.png"))

    browser.find_element(By.CSS_SELECTOR, "#queue-default-default .failed a").click()
    assert "this task always fails" in text_of(browser, "#failed-default-default")
    browser.find_element(By.CSS_SELECTOR, "#failed-default-default summary").click()
    browser.save_screenshot(str(shots / "admin-failed.png"))
    browser.find_element(By.CSS_SELECTOR, "input[value=flaky-report]").click()
    browser.find_element(By.CSS_SELECTOR, "button[value=retry]").click()
    assert "1 failed task(s) of default (default) retried" in text_of(browser, "ul.messagelist")
    assert memory.get_status_sync("flaky-report", "default") == "ready"

    browser.get(live_server.url + "/admin/symphra_django/queue/default/default/")
    assert "flaky-report" in browser.find_element(By.ID, "content-main").text
    browser.save_screenshot(str(shots / "admin-queue.png"))

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
    assert text_of(browser, "#purge-count") == "4"
    browser.save_screenshot(str(shots / "admin-purge.png"))
