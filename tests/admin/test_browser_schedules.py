"""A database schedule made in a real browser (headless Chromium): fill in
the form, preview its next five runs, save it, find it on the Schedules page.

Screenshots go to ``SYMPHRA_SCREENSHOTS`` like those of test_browser.py.
"""

from __future__ import annotations

import pytest

from symphra_django.models import PeriodicSchedule
from tests.admin.test_browser import browser, shots, text_of  # noqa: F401 - fixtures
from tests.sampleapp import tasks as sample

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_an_operator_previews_and_saves_a_database_schedule(
    browser, live_server, django_user_model, shots, monkeypatch  # noqa: F811
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    django_user_model.objects.create_superuser("ops", "ops@example.com", "a-long-pass-phrase")
    browser.get(live_server.url + "/admin/symphra_django/periodicschedule/add/")
    browser.find_element(By.NAME, "username").send_keys("ops")
    browser.find_element(By.NAME, "password").send_keys("a-long-pass-phrase")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    browser.execute_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    browser.refresh()

    browser.find_element(By.NAME, "name").send_keys("weekday-report")
    Select(browser.find_element(By.NAME, "task")).select_by_value("tests.sampleapp.tasks.send_email")
    browser.find_element(By.NAME, "cron").send_keys("30 8 * * 1-5")
    browser.find_element(By.NAME, "timezone").send_keys("Europe/Paris")
    args = browser.find_element(By.NAME, "args")
    args.clear()
    args.send_keys('["team@example.com"]')
    browser.find_element(By.ID, "preview-button").click()

    runs = browser.find_elements(By.CSS_SELECTOR, "#next-runs li")
    assert len(runs) == 5
    assert all(" 08:30:00 CE" in run.text and run.text[:3] in ("Mon", "Tue", "Wed", "Thu", "Fri") for run in runs)
    assert not PeriodicSchedule.objects.exists(), "a preview saves nothing"
    browser.set_window_size(1200, 1880)  # the whole form and its preview in one picture
    browser.save_screenshot(str(shots / "admin-database-schedule.png"))

    browser.find_element(By.NAME, "_save").click()
    assert "was added successfully" in text_of(browser, "ul.messagelist")
    schedule = PeriodicSchedule.objects.get()
    assert (schedule.task, schedule.args, schedule.timezone) == (
        "tests.sampleapp.tasks.send_email", ["team@example.com"], "Europe/Paris")

    # Declared enabled only for the end-to-end runs; shown here as a live code schedule.
    monkeypatch.setattr(sample.every_second, "enabled", True)
    browser.set_window_size(1200, 760)
    browser.get(live_server.url + "/admin/symphra_django/schedulestate/")
    assert "every_second" in text_of(browser, "#schedules")
    row = browser.find_element(By.CSS_SELECTOR, "#database-schedules tr[data-name='weekday-report']")
    assert "08:30:00" in row.find_element(By.CSS_SELECTOR, ".next-run").text
    browser.save_screenshot(str(shots / "admin-schedules-both.png"))
    row.find_element(By.LINK_TEXT, "weekday-report").click()
    assert browser.current_url.endswith(f"/periodicschedule/{schedule.pk}/change/")
