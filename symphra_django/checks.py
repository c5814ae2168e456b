"""System checks for the SYMPHRA setting and declared tasks."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register
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
    from symphra_django.backends.handler import backend_class

    for alias, config in conf.get("BACKENDS").items():
        key = f"settings.SYMPHRA['BACKENDS'][{alias!r}]"
        if not isinstance(config, dict):
            errors.append(Error(f"{key} must be a dict with a 'BACKEND' key.", id="symphra_django.E002"))
            continue
        try:
            backend_class(config.get("BACKEND", "database"), key=f"{key}['BACKEND']")
        except ImproperlyConfigured as exc:
            errors.append(Error(str(exc), id="symphra_django.E002"))
        options = config.get("OPTIONS")
        if isinstance(options, dict) and "max_attempts" in options:
            errors.append(CheckWarning(
                f"{key}['OPTIONS']['max_attempts'] is ignored: every task's retry policy "
                "decides how many times it runs (its max_attempts), and a task whose "
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
    errors.extend(_check_task_backends())
    errors.extend(_check_queue_names())
    return errors


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
    named += [(task.queue, f"task {task.name!r}", task.origin) for task in registry]
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
