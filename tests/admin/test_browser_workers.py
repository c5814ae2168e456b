"""The Workers page in a real browser (headless Chromium through Selenium):
a running scheduler with a task in progress, a gone worker, the ticks and
their holders, and "stop accepting work" stopping the scheduler.
The screenshot goes to ``SYMPHRA_SCREENSHOTS`` (docs/img when refreshed)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from django.test import override_settings

from symphra_django import Scheduler
from symphra_django.backends.workers import RunningTask, WorkerRecord
from symphra_django.models import ScheduleState
from symphra_django.runtime.ticks import DatabaseLedger
from symphra_django.runtime.worker import worker_id
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.testing import wait_until
from tests.admin.test_browser import browser, log_in, no_sideways_scroll, shots, text_of  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_an_operator_sees_what_each_worker_runs_and_stops_one(
    browser, live_server, django_user_model, memory, shots  # noqa: F811
):
    from selenium.webdriver.common.by import By

    django_user_model.objects.create_superuser("ops", "ops@example.com", "a-long-pass-phrase")
    release = threading.Event()
    registry = TaskRegistry()

    def build_invoice(order: int) -> None:
        release.wait(30)

    scheduler = Scheduler(memory, registry=registry, beat=False, ledger=DatabaseLedger(), workers=2, batch_size=1,
                          poll_interval=0.01)
    invoice = scheduler.register_task(build_invoice, name="shop.tasks.build_invoice")
    now = time.time()
    # Another host's process, killed a minute ago: shown as gone.
    gone = WorkerRecord(worker_id="worker-2:4711", host="worker-2", pid=4711, version="0.1.0", backend="default",
                        queues=["default", "emails"], threads=8, role="main", started_at=now - 7200,
                        heartbeat_at=now - 75, running=[RunningTask("b91e1c", "shop.tasks.sync_stock", "default",
                                                                    now - 80, now - 20)], running_count=1)
    memory.save_worker_sync(gone.worker_id, gone.to_json(), 600)
    ScheduleState.objects.create(name="shop.tasks.nightly_report", last_tick=datetime(2026, 12, 2, 3, 0, tzinfo=UTC),
                                 last_tick_by=worker_id())
    ScheduleState.objects.create(name="shop.tasks.refresh_rates", last_tick=datetime(2026, 12, 2, 22, 15, tzinfo=UTC),
                                 last_tick_by="worker-2:4711")
    requested = threading.Event()
    with override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory"}}, "HEARTBEAT_INTERVAL": 0.1}):
        from symphra_django.backends import backends

        backends.set("default", memory)
        runner = threading.Thread(target=scheduler.run_until, args=(requested,), daemon=True)
        runner.start()
        try:
            for order in (1042, 1043):
                memory.enqueue_sync(invoice.message([order], {}, invoice.using().options))
            wait_until(lambda: any(r.running_count == 2 for r in _records(memory)), timeout=10,
                       message="both invoices running in the heartbeat")
            log_in(browser, live_server.url + "/admin/symphra_django/worker/")
            browser.set_window_size(1200, 900)
            browser.refresh()  # without the nav sidebar, closed by log_in
            ours = browser.find_element(By.CSS_SELECTOR, f'tr[data-worker="{worker_id()}"]')
            assert "alive" in ours.text and "shop.tasks.build_invoice" in ours.text
            theirs = browser.find_element(By.CSS_SELECTOR, 'tr[data-worker="worker-2:4711"]')
            assert "gone" in theirs.text and "Stop accepting work" not in theirs.text
            assert worker_id() in text_of(browser, "#ticks")
            no_sideways_scroll(browser)
            browser.save_screenshot(str(shots / "admin-workers.png"))
            ours.find_element(By.CSS_SELECTOR, "button").click()
            assert "will stop accepting work" in text_of(browser, "ul.messagelist")
            release.set()
            runner.join(10)
            assert not runner.is_alive() and scheduler.stop_requested.is_set()
        finally:
            release.set()
            requested.set()
            runner.join(10)


def _records(backend) -> list[WorkerRecord]:
    from symphra_django.backends.workers import list_workers

    return list_workers(backend).workers
