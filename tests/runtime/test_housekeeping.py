"""Housekeeping: old history, results and throughput rows are pruned."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from symphra_django.runtime import housekeeping as maintenance
from symphra_django.models import QueuedTask


@pytest.mark.django_db(transaction=True)
def test_run_jobs_prunes_finished_history_past_the_retention(settings):
    settings.SYMPHRA = {"BACKENDS": {"default": {"BACKEND": "database"}}, "HISTORY_RETENTION": 3600}
    now = timezone.now()
    for task_id, finished in (("old", now - timedelta(hours=2)), ("recent", now - timedelta(minutes=5))):
        QueuedTask.objects.create(
            id=task_id, task_name="t", status="done", scheduled_time=now, payload="{}",
            created_at=now, updated_at=now, finished_at=finished,
        )
    maintenance.run_jobs()
    assert list(QueuedTask.objects.values_list("id", flat=True)) == ["recent"]


def test_a_failing_job_is_logged_and_the_others_still_run(monkeypatch, caplog):
    ran = []
    monkeypatch.setattr(maintenance, "JOBS", {
        "broken": lambda: 1 / 0,
        "fine": lambda: ran.append("fine") or 3,
    })
    caplog.set_level(logging.INFO, "symphra_django.maintenance")
    maintenance.run_jobs()
    assert ran == ["fine"]
    assert "could not prune broken" in caplog.text and "pruned 3 row(s) of fine" in caplog.text
