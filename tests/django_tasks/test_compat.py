"""The TASKS backend on every supported Django: importable everywhere, a clear
error before Django 6.0, configuration checks on Django 6."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from symphra_django.django_tasks import HAS_DJANGO_TASKS, SymphraBackend
from symphra_django.django_tasks.checks import check_django_version

TASKS = {"default": {"BACKEND": "symphra_django.django_tasks.SymphraBackend"}}

needs_5 = pytest.mark.skipif(HAS_DJANGO_TASKS, reason="only Django < 6.0 lacks django.tasks")
needs_6 = pytest.mark.skipif(not HAS_DJANGO_TASKS, reason="django.tasks needs Django 6.0+")


@needs_5
def test_using_the_backend_before_django_6_says_what_is_needed():
    with pytest.raises(ImproperlyConfigured, match=r"needs Django 6.0 or later; this project runs Django 5"):
        SymphraBackend("default", {})


@needs_5
def test_a_tasks_setting_naming_the_backend_before_django_6_is_a_check_error():
    with override_settings(TASKS=TASKS):
        [error] = check_django_version()
    assert error.id == "symphra_django.E601" and "TASKS['default']" in error.hint


@needs_6
def test_the_version_check_is_silent_on_django_6():
    with override_settings(TASKS=TASKS):
        assert check_django_version() == []


@needs_6
def test_a_symphra_alias_that_does_not_exist_is_a_check_error():
    backend = SymphraBackend("default", {"OPTIONS": {"backend": "nowhere"}})
    [error] = backend.check()
    assert error.id == "symphra_django.E602" and "'nowhere'" in error.msg


@needs_6
def test_a_queue_name_symphra_cannot_use_is_a_check_error():
    backend = SymphraBackend("default", {"QUEUES": ["default", "bad name!"]})
    [error] = backend.check()
    assert error.id == "symphra_django.E603" and "bad name!" in error.msg


@needs_6
def test_an_empty_queue_list_warns_that_runscheduler_cannot_know_the_queues():
    [warning] = SymphraBackend("default", {"QUEUES": []}).check()
    assert warning.id == "symphra_django.W601"


@needs_6
def test_the_configured_queues_are_consumed_by_runscheduler():
    from symphra_django.django_tasks.bridge import register_configured_runners, runner_name
    from symphra_django.tasks.registry import registry

    with override_settings(TASKS={"default": {**TASKS["default"], "QUEUES": ["default", "invoices"]}}):
        register_configured_runners()
    try:
        assert "invoices" in registry.queue_names()
    finally:
        registry.unregister(runner_name("invoices"))


@needs_6
def test_a_broken_tasks_entry_does_not_stop_the_app_from_starting():
    from symphra_django.django_tasks.bridge import register_configured_runners

    with override_settings(TASKS={"a": {"BACKEND": "no.such.Backend"}, "b": {}, **TASKS}):
        register_configured_runners()
