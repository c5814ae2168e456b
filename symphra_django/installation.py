"""Whether symphra_django is set up in this project: the app installed, its tables migrated.

The two steps of the installation that are easiest to miss, leaving
``"symphra_django"`` out of ``INSTALLED_APPS`` and not running ``migrate``,
are checked here, once, and each is reported with what to do instead of the
error Django or the database would give (a model without an app label, a
missing table). Callers: the models package and ``@task`` (the app),
the system checks, the database backend's connect and ``runscheduler``
(the migrations).
"""

from __future__ import annotations

import pkgutil

from django.core.exceptions import ImproperlyConfigured

from symphra_django.exceptions import NotMigrated

APP = "symphra_django"


def require_installed() -> None:
    """ImproperlyConfigured if the project's apps are loaded without this one.

    Does nothing before the app registry is loaded (a module imported from
    the settings): Django then says so itself.
    """
    from django.apps import apps

    if apps.apps_ready and not apps.is_installed(APP):
        raise ImproperlyConfigured(
            "'symphra_django' is not in INSTALLED_APPS: add it there. It holds the "
            "queue tables, finds the tasks.py of every installed app and provides "
            "the runscheduler command."
        )


def migration_names() -> list[str]:
    """The names of this app's migrations, read from the package (nothing
    imported), by Django's rule: every module not starting with ``_`` or ``~``."""
    from symphra_django import migrations

    return sorted(
        module.name for module in pkgutil.iter_modules(migrations.__path__) if not module.name.startswith(("_", "~"))
    )


def tables(database: str) -> list[str]:
    """This app's tables that the routers put in ``database``."""
    from django.apps import apps
    from django.db import connections, router

    return [
        model._meta.db_table for model in apps.get_app_config(APP).get_models()
        if model._meta.can_migrate(connections[database]) and router.allow_migrate_model(database, model)
    ]


def holds_tables(database: str) -> bool:
    """Whether the routers put any of this app's tables in ``database``."""
    return bool(tables(database))


def unapplied_migrations(database: str) -> list[str]:
    """This app's migrations that ``migrate`` has yet to apply to ``database``
    (one or two queries; DatabaseError if the database cannot be reached).

    None is recorded in a database whose tables were made without migrations
    (a test database with migrations disabled): when its tables are all
    there, nothing is missing.
    """
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(connections[database])
    applied: set[str] = set()
    if recorder.has_table():
        applied = set(recorder.migration_qs.filter(app=APP).values_list("name", flat=True))
    unapplied = [name for name in migration_names() if name not in applied]
    if applied or not unapplied or missing_tables(database):
        return unapplied
    return []


def missing_tables(database: str) -> list[str]:
    """The tables of this app that the routers put in ``database`` and that are not there."""
    from django.db import connections

    existing = set(connections[database].introspection.table_names())
    return [table for table in tables(database) if table not in existing]


def not_migrated_message(database: str, unapplied: list[str]) -> str:
    """What to say when ``database`` lacks this app's migrations ``unapplied``."""
    command = "python manage.py migrate" + ("" if database == "default" else f" --database {database}")
    tables = "are not created" if len(unapplied) == len(migration_names()) else "are not up to date"
    return (
        f"symphra_django's tables {tables} in database {database!r} "
        f"({len(unapplied)} migration(s) not applied): run `{command}`."
    )


def require_migrated(database: str) -> None:
    """NotMigrated, saying which command to run, unless every migration of
    this app is applied to ``database``."""
    unapplied = unapplied_migrations(database)
    if unapplied:
        raise NotMigrated(not_migrated_message(database, unapplied))
