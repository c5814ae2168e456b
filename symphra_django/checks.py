"""System checks for the SYMPHRA setting and declared tasks."""

from __future__ import annotations

import sys
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured

from symphra_django import conf


@register("symphra")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    try:
        for name in conf.DEFAULTS:
            conf.get(name)
        from symphra_django.tasks.retry import default_policy

        default_policy()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="symphra_django.E001")]
    from symphra_django.backends.handler import entry_problems

    for alias, config in conf.get("BACKENDS").items():
        _, options, problems = entry_problems(alias, config)
        errors += [Error(p.message, hint=p.hint, id=p.check_id) for p in problems]
        if "max_attempts" in options:
            errors.append(CheckWarning(
                f"settings.SYMPHRA['BACKENDS'][{alias!r}]['OPTIONS']['max_attempts'] is ignored: every task's "
                "retry policy decides how many times it runs (its max_attempts), and a task whose "
                "worker keeps getting lost is delivered at most two more times.",
                hint="Remove the option; set RETRY_POLICY or a task's retry_policy instead.",
                id="symphra_django.W001",
            ))
    if "default" not in conf.get("BACKENDS"):
        errors.append(Error(
            "settings.SYMPHRA['BACKENDS'] has no 'default' alias; tasks use it unless they name another.",
            hint="Rename one alias to 'default' or add one.",
            id="symphra_django.E003",
        ))
    errors.extend(_check_prometheus())
    if conf.get("WORKER_TIMEOUT") < 2 * conf.get("HEARTBEAT_INTERVAL"):
        errors.append(CheckWarning(
            f"settings.SYMPHRA['WORKER_TIMEOUT'] ({conf.get('WORKER_TIMEOUT')!r}) is less than two "
            f"heartbeat intervals (SYMPHRA['HEARTBEAT_INTERVAL'] is {conf.get('HEARTBEAT_INTERVAL')!r}): "
            "live workers would be shown as gone between two heartbeats, and the health check would fail.",
            hint="Make WORKER_TIMEOUT a few heartbeat intervals long (the defaults are 5 and 30 seconds).",
            id="symphra_django.W004",
        ))
    errors.extend(_check_task_backends())
    errors.extend(_check_queue_names())
    errors.extend(_check_task_modules())
    return errors


@register(Tags.database)
def check_migrations(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Unapplied migrations of this app, in the databases the check is run
    with (``check --database default``, and ``migrate``, before it migrates).
    Tagged ``database`` only, like Django's own database checks: Django then
    runs it only when databases are named, so a plain ``check`` (or
    ``check --tag symphra``) never queries a database.

    A warning, not an error: ``migrate`` runs the checks first and would
    refuse to apply the very migrations it reports. Nor is it said in
    ``manage.py migrate`` itself, which is about to do what it asks.
    """
    from django.db import DatabaseError

    if sys.argv[1:2] == ["migrate"]:
        return []

    from symphra_django.installation import holds_tables, not_migrated_message, unapplied_migrations

    warnings: list[CheckMessage] = []
    for database in databases or ():
        try:
            unapplied = unapplied_migrations(database) if holds_tables(database) else []
        except (DatabaseError, ImproperlyConfigured):
            continue  # cannot be reached, or bad settings: Django's and E001 report them
        if unapplied:
            warnings.append(CheckWarning(
                not_migrated_message(database, unapplied),
                hint="Until then tasks cannot be enqueued there, and runscheduler and taskstatus say so.",
                id="symphra_django.W002",
            ))
    return warnings


def _check_prometheus() -> list[CheckMessage]:
    """Metrics asked for in the settings need the prometheus extra."""
    from symphra_django import prometheus

    if not prometheus.enabled_in_settings() or prometheus.available():
        return []
    return [Error(
        "settings.SYMPHRA['PROMETHEUS'] is set, but the prometheus_client package is not installed.",
        hint='pip install "symphra-django[prometheus]" (or prometheus_client), or remove the setting.',
        id="symphra_django.E009",
    )]


def _check_task_modules() -> list[CheckMessage]:
    """Tasks that runscheduler would not know: it imports the tasks.py of the
    installed apps, and a task declared in a module of no installed app is
    found only if one of those imports it (seen here once something imported
    it: a view, the URLconf)."""
    from symphra_django.tasks.registry import registry

    return [
        CheckWarning(
            f"task {task.name!r} is declared in module {task.module!r}, which belongs to no app in "
            "INSTALLED_APPS: runscheduler imports the tasks.py of every installed app and will not "
            "know this task, so its calls would fail as unknown.",
            hint="Add the app that holds it to INSTALLED_APPS (or declare the task in an installed "
                 "app's tasks.py).",
            obj=task.origin,
            id="symphra_django.W003",
        )
        for task in registry
        if not task.discoverable
    ]


def _check_queue_names() -> list[CheckMessage]:
    """Queue names end up in URLs of the admin, Redis keys, AMQP names and SQL:
    they are checked against one pattern rather than escaped everywhere."""
    from symphra_django.tasks.registry import registry
    from symphra_django.utils.identifiers import IDENTIFIER_RULE, is_identifier

    named: list[tuple[object, str, object]] = [
        (queue, "settings.SYMPHRA['QUEUES']", None) for queue in conf.get("QUEUES")
    ]
    for alias, config in conf.get("BACKENDS").items():
        options = config.get("OPTIONS") if isinstance(config, dict) else None
        if isinstance(options, dict) and "queue_name" in options:
            named.append((options["queue_name"], f"settings.SYMPHRA['BACKENDS'][{alias!r}]['OPTIONS']['queue_name']",
                          None))
    # A task without queue= uses its alias's queue_name, reported above.
    named += [(task.declared_queue, f"task {task.name!r}", task.origin) for task in registry
              if task.declared_queue is not None]
    errors: list[CheckMessage] = []
    reported: set[tuple[object, str]] = set()
    for queue, where, obj in named:
        if not is_identifier(queue) and (repr(queue), where) not in reported:
            reported.add((repr(queue), where))
            errors.append(Error(
                f"{where} has the invalid queue name {queue!r}: {IDENTIFIER_RULE}.",
                hint="Queue names appear in admin URLs, Redis keys, RabbitMQ names and SQL; "
                     "rename the queue.",
                obj=obj,
                id="symphra_django.E005",
            ))
    return errors


def _check_task_backends() -> list[CheckMessage]:
    from symphra_django.tasks.registry import registry

    configured = conf.get("BACKENDS")
    return [
        Error(
            f"task {task.name!r} uses backend alias {task.backend!r}, which is not in "
            f"settings.SYMPHRA['BACKENDS'] ({', '.join(map(repr, configured))}).",
            obj=task.origin,
            id="symphra_django.E004",
        )
        for task in registry
        if task.backend not in configured
    ]
