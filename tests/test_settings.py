"""The SYMPHRA setting: defaults, backend aliases and clear errors."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from symphra_django import conf
from symphra_django.backends import MemoryBackend, backends
from symphra_django.checks import check_settings


def test_defaults_need_no_setting():
    with override_settings():
        from django.conf import settings

        del settings.SYMPHRA
        assert conf.get("BACKENDS") == {"default": {"BACKEND": "database", "OPTIONS": {}}}
        assert conf.get("WORKERS") == 4


@override_settings(SYMPHRA={"WORKRES": 4})
def test_unknown_key_names_the_likely_one_and_the_valid_ones():
    with pytest.raises(ImproperlyConfigured, match=r"unknown key\(s\) 'WORKRES' \(did you mean 'WORKERS' for "
                                                   r"'WORKRES'\?\); valid keys are .*WORKERS"):
        conf.get("WORKERS")


@pytest.mark.parametrize(
    ("key", "value"),
    [("WORKERS", 0), ("WORKERS", "4"), ("LEASE_SECONDS", -1), ("TASK_TIMEOUT", 0), ("QUEUES", "default")],
)
def test_bad_values_name_key_and_value(key, value):
    with override_settings(SYMPHRA={key: value}):
        with pytest.raises(ImproperlyConfigured, match=rf"SYMPHRA\['{key}'\] is {value!r}"):
            conf.get(key)


@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory"}, "fast": {"BACKEND": "memory"}}})
def test_aliases_resolve_to_one_instance_each():
    assert isinstance(backends["fast"], MemoryBackend)
    assert backends["fast"] is backends["fast"]
    assert backends["fast"] is not backends["default"]


@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "mongo"}}})
def test_unknown_short_name_lists_the_valid_ones():
    with pytest.raises(ImproperlyConfigured, match=r"'mongo'.*database, memory, rabbitmq, redis, sqlite"):
        backends["default"]


@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory"}}})
def test_unknown_alias_lists_the_configured_ones():
    with pytest.raises(ImproperlyConfigured, match=r"unknown backend alias 'other'.*'default'"):
        backends["other"]


@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory", "OPTIONS": {"colour": "red"}}}})
def test_unknown_option_names_the_valid_ones():
    with pytest.raises(ImproperlyConfigured, match=r"unknown option\(s\) 'colour' for MemoryBackend; valid options are .*queue_name"):
        backends["default"]


@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory", "LOCATION": "x"}}})
def test_unknown_alias_key_is_refused():
    with pytest.raises(ImproperlyConfigured, match=r"unknown key\(s\) 'LOCATION'"):
        backends["default"]


@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "django.db.models.Model"}}})
def test_a_class_that_is_not_a_backend_is_refused():
    with pytest.raises(ImproperlyConfigured, match="not a subclass of symphra_django.backends.QueueBackend"):
        backends["default"]


@override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory", "OPTIONS": {"queue_name": "bad name!"}}}})
def test_an_invalid_queue_name_option_is_refused():
    with pytest.raises(ImproperlyConfigured, match="invalid queue_name 'bad name!'"):
        backends["default"]


def test_system_check_reports_bad_settings():
    with override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "nosuch.Backend"}}}):
        [error] = check_settings()
        assert error.id == "symphra_django.E002" and "cannot be imported" in error.msg
    with override_settings(SYMPHRA={"BACKENDS": {"main": {"BACKEND": "memory"}}}):
        ids = [e.id for e in check_settings()]
        # No 'default' alias, and every declared task uses it.
        assert ids[0] == "symphra_django.E003" and set(ids[1:]) == {"symphra_django.E004"}
    with override_settings(SYMPHRA={"RETRY_POLICY": "sometimes"}):
        [error] = check_settings()
        assert "unknown settings.SYMPHRA['RETRY_POLICY'] preset 'sometimes'" in error.msg


def test_system_check_is_quiet_when_all_is_well():
    assert check_settings() == []


@pytest.mark.parametrize("bad", ["a/b", "with space", "-dash-first", "é", "x" * 101])
def test_system_check_names_an_invalid_queue_name_and_the_allowed_characters(bad):
    with override_settings(SYMPHRA={"QUEUES": ["default", bad]}):
        [error] = check_settings()
    assert error.id == "symphra_django.E005"
    assert f"settings.SYMPHRA['QUEUES'] has the invalid queue name {bad!r}" in error.msg
    assert "letters, digits, '_', '.', ':' and '-'" in error.msg


def test_system_check_names_the_task_and_the_backend_option_with_an_invalid_queue(monkeypatch):
    from symphra_django.tasks.registry import registry

    task = registry.get("tests.sampleapp.tasks.noop")
    monkeypatch.setattr(task, "queue", "reports/daily")
    config = {"BACKENDS": {"default": {"BACKEND": "memory", "OPTIONS": {"queue_name": "a b"}}}}
    with override_settings(SYMPHRA=config):
        errors = [e for e in check_settings() if e.id == "symphra_django.E005"]
    assert [e.msg.split(":")[0] for e in errors] == [
        "settings.SYMPHRA['BACKENDS']['default']['OPTIONS']['queue_name'] has the invalid queue name 'a b'",
        "task 'tests.sampleapp.tasks.noop' has the invalid queue name 'reports/daily'",
    ]
    assert errors[1].obj == task.origin
