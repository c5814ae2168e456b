"""The SYMPHRA setting: defaults, backend aliases and clear errors."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from symphra_django import conf
from symphra_django.backends import MemoryBackend, backends
from symphra_django.checks import check_settings


def test_defaults_need_no_setting():
    # Deleting a setting, and putting it back, sends no setting_changed.
    try:
        with override_settings():
            from django.conf import settings

            del settings.SYMPHRA
            conf.clear_cache()
            assert conf.get("BACKENDS") == {"default": {"BACKEND": "database", "OPTIONS": {}}}
            assert conf.get("WORKERS") == 4
    finally:
        conf.clear_cache()


def test_a_changed_setting_is_read_again():
    assert conf.get("BATCH_SIZE") == 32
    with override_settings(SYMPHRA={"BATCH_SIZE": 7}):
        assert conf.get("BATCH_SIZE") == 7
    assert conf.get("BATCH_SIZE") == 32


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


# -- the first hour: each mistake reported by the checks, with what to do ------------------


def check_ids(**settings) -> dict[str, str]:
    """``manage.py check``'s symphra messages, by id (message and hint)."""
    from django.core.checks import run_checks

    with override_settings(**settings):
        return {m.id: f"{m.msg} {m.hint or ''}" for m in run_checks(tags=["symphra"]) if m.id}


def test_an_unknown_symphra_key_is_check_error_e001_not_a_crash():
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    with override_settings(SYMPHRA={"WORKRES": 4}), pytest.raises(SystemCheckError) as raised:
        call_command("check", "--tag", "symphra")
    assert "(symphra_django.E001) settings.SYMPHRA has unknown key(s) 'WORKRES'" in str(raised.value)
    assert "did you mean 'WORKERS'" in str(raised.value)


def test_a_redis_backend_without_the_redis_package_is_reported_with_the_pip_command(monkeypatch):
    from symphra_django.backends.redis import connection

    real_find_spec = connection.find_spec
    monkeypatch.setattr(connection, "find_spec", lambda name: None if name == "redis" else real_find_spec(name))
    config = {"BACKENDS": {"default": {"BACKEND": "redis", "OPTIONS": {"url": "redis://127.0.0.1:6379/0"}}}}
    found = check_ids(SYMPHRA=config)
    assert "The Redis backend needs the 'redis' package, which is not installed: " \
           "pip install 'symphra-django[redis]'" in found["symphra_django.E006"]
    # Building it (the first enqueue) is refused the same way.
    with override_settings(SYMPHRA=config), pytest.raises(ImproperlyConfigured, match=r"^settings\.SYMPHRA\["
                                                          r"'BACKENDS'\]\['default'\]: The Redis backend needs"):
        backends["default"]


def test_a_redis_backend_on_a_django_redis_cache_needs_django_redis(monkeypatch):
    from symphra_django.backends.redis import connection

    real_find_spec = connection.find_spec
    monkeypatch.setattr(connection, "find_spec", lambda name: None if name == "django_redis" else real_find_spec(name))
    found = check_ids(
        CACHES={"queue": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:6379/1"}},
        SYMPHRA={"BACKENDS": {"default": {"BACKEND": "redis", "OPTIONS": {"cache": "queue"}}}},
    )
    assert "needs the 'django-redis' package, which is not installed: pip install 'symphra-django[redis]'" \
           in found["symphra_django.E006"]


def test_a_rabbitmq_backend_without_pika_is_reported_with_the_pip_command(monkeypatch):
    import sys

    import symphra_django.backends.rabbitmq as package

    # As in a project without pika: the backend's module was never imported.
    monkeypatch.delitem(sys.modules, "symphra_django.backends.rabbitmq.backend", raising=False)
    monkeypatch.delattr(package, "backend", raising=False)
    monkeypatch.setitem(sys.modules, "pika", None)
    found = check_ids(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "rabbitmq"}}})
    assert "needs the 'pika' package, which is not installed: pip install 'symphra-django[rabbitmq]'" \
           in found["symphra_django.E006"]


def test_an_unknown_backend_option_is_check_error_e007_listing_the_valid_ones():
    found = check_ids(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory", "OPTIONS": {"colour": "red"}}}})
    assert found["symphra_django.E007"].startswith(
        "settings.SYMPHRA['BACKENDS']['default']['OPTIONS'] has unknown option(s) 'colour' for MemoryBackend; "
        "valid options are ")


def test_a_task_declared_outside_the_installed_apps_is_check_warning_w003():
    from symphra_django.tasks.base import declare
    from symphra_django.tasks.registry import registry

    def orphan() -> None: ...

    orphan.__module__ = "scripts.jobs"  # a module of no installed app
    declare(orphan, name="scripts.jobs.orphan")
    try:
        [warning] = [m for m in check_settings() if m.id == "symphra_django.W003"]
    finally:
        registry.unregister("scripts.jobs.orphan")
    assert warning.msg.startswith("task 'scripts.jobs.orphan' is declared in module 'scripts.jobs', which "
                                  "belongs to no app in INSTALLED_APPS: runscheduler imports the tasks.py")
    assert "Add the app that holds it to INSTALLED_APPS" in warning.hint


@pytest.mark.django_db
def test_unapplied_migrations_are_check_warning_w002_with_database_access_only(monkeypatch):
    from symphra_django import installation
    from symphra_django.checks import check_migrations

    assert check_migrations(databases=["default"]) == []  # the test database is migrated
    names = installation.migration_names()
    monkeypatch.setattr(installation, "migration_names", lambda: [*names, "9999_from_the_future"])
    [warning] = check_migrations(databases=["default"])
    assert warning.id == "symphra_django.W002"
    assert warning.msg == ("symphra_django's tables are not up to date in database 'default' "
                           "(1 migration(s) not applied): run `python manage.py migrate`.")
    # Like Django's database checks: no query without --database.
    assert check_migrations(databases=None) == []


@pytest.mark.django_db
def test_a_database_backend_on_an_unmigrated_database_says_to_run_migrate(monkeypatch):
    from symphra_django import installation
    from symphra_django.backends.database import DatabaseBackend
    from symphra_django.exceptions import NotMigrated

    names = installation.migration_names()
    monkeypatch.setattr(installation, "migration_names", lambda: [*names, "9999_from_the_future"])
    backend = DatabaseBackend(alias="db")
    with pytest.raises(NotMigrated, match=r"run `python manage.py migrate`\.$") as raised:
        backend.get_queue_size_sync()
    assert isinstance(raised.value, ImproperlyConfigured)
    monkeypatch.setattr(installation, "migration_names", lambda: names)
    assert backend.get_queue_size_sync() == 0  # migrated now: the next use connects


def test_a_task_without_queue_lands_in_its_alias_queue_name(memory):
    """symphra-scheduler's ``queue_name`` names the queue tasks land in."""
    from symphra_django import Scheduler
    from tests.sampleapp.tasks import remember, send_email

    jobs = MemoryBackend(alias="default", queue_name="jobs")
    with override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory", "OPTIONS": {"queue_name": "jobs"}}}}):
        backends.set("default", jobs)
        assert remember.queue == "jobs"
        assert remember.enqueue(1).queue == "jobs"
        assert send_email.enqueue("a@example.com").queue == "emails"  # a declared queue= still wins
        assert (jobs.get_queue_size_sync("jobs"), jobs.get_queue_size_sync("default")) == (1, 0)
        scheduler = Scheduler("default", beat=False, poll_interval=0.01)
        assert "jobs" in scheduler.queue_names()
        scheduler.run_burst()
        assert jobs.get_queue_size_sync("jobs") == 0


@pytest.mark.django_db
def test_a_database_whose_tables_were_made_without_migrations_is_not_taken_for_unmigrated(monkeypatch):
    """Test databases made with migrations disabled record none of them."""
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    from symphra_django import installation

    MigrationRecorder(connection).migration_qs.filter(app="symphra_django").delete()
    assert installation.unapplied_migrations("default") == []
    # Without the tables, the same database is one that migrate has not reached.
    monkeypatch.setattr(installation, "missing_tables", lambda database: ["symphra_task_queue"])
    assert installation.unapplied_migrations("default") == installation.migration_names()
