"""Backend aliases from settings to instances, like ``django.core.cache.caches``.

One instance per alias per process, shared by every thread: built-in backends
are thread-safe (each says how). An instance connects on first use, not when
it is built. Instances are dropped when ``SYMPHRA``
changes (``override_settings``).
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from symphra_django import conf
from symphra_django.backends.base import QueueBackend
from symphra_django.exceptions import MissingPackage
from symphra_django.messages import DEFAULT_QUEUE

logger = logging.getLogger("symphra_django.backends")

#: Short names accepted in BACKEND, beside dotted paths.
SHORT_NAMES = {
    "memory": "symphra_django.backends.memory.MemoryBackend",
    "database": "symphra_django.backends.database.DatabaseBackend",
    "sqlite": "symphra_django.backends.database.DatabaseBackend",
    "redis": "symphra_django.backends.redis.RedisBackend",
    "rabbitmq": "symphra_django.backends.rabbitmq.RabbitMQBackend",
}


def unknown_alias(alias: object, configured: Iterable[str], *, kind: str = "backend alias",
                  setting: str = "settings.SYMPHRA['BACKENDS']") -> str:
    """The one message for an alias that is not configured, said the same way
    by the code API, ``runscheduler``, ``taskstatus``, ``movetasks`` and
    ``prunetasks`` (``kind``/``setting``: which aliases, and where they are set)."""
    names = ", ".join(map(repr, configured)) or "none"
    return f"unknown {kind} {alias!r}; configured aliases are {names} ({setting})"


@conf.settings_cached
def default_queue(alias: str) -> str:
    """The queue a task on ``alias`` lands in when it names none: the alias's
    ``queue_name`` option (``"default"`` unless set). Read from the settings
    alone, so that it never fails: a bad entry is the system checks' to report."""
    try:
        config = conf.get("BACKENDS").get(alias)
    except ImproperlyConfigured:
        return DEFAULT_QUEUE
    options = config.get("OPTIONS") if isinstance(config, dict) else None
    queue = options.get("queue_name") if isinstance(options, dict) else None
    return queue if isinstance(queue, str) else DEFAULT_QUEUE


def backend_class(path: str, *, key: str) -> type[QueueBackend]:
    """The class a ``BACKEND`` value names. ImproperlyConfigured if it is none;
    MissingPackage (a subclass) if its module needs a package not installed."""
    dotted = SHORT_NAMES.get(path, path) if isinstance(path, str) else path
    if not isinstance(dotted, str) or "." not in dotted:
        raise ImproperlyConfigured(
            f"{key} is {path!r}, which is neither a short name "
            f"({', '.join(sorted(SHORT_NAMES))}) nor a dotted path to a "
            "QueueBackend subclass."
        )
    try:
        cls = import_string(dotted)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{key} is {path!r}, which cannot be imported: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, QueueBackend)):
        raise ImproperlyConfigured(
            f"{key} is {path!r}, which is not a subclass of "
            "symphra_django.backends.QueueBackend."
        )
    return cls


def accepted_options(cls: type) -> set[str] | None:
    """Keyword options a backend class accepts (None: any, it takes **kwargs)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names.update(
            p.name for p in params
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"
        )
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names
    return None


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a ``SYMPHRA["BACKENDS"]`` entry, found without
    building the backend: the system check reports it under ``check_id``,
    and building the backend raises it (:meth:`error`)."""

    check_id: str
    message: str
    hint: str | None = None

    def error(self) -> ImproperlyConfigured:
        return ImproperlyConfigured(self.message if self.hint is None else f"{self.message} {self.hint}")


def entry_problems(alias: str, config: Any) -> tuple[type[QueueBackend] | None, dict[str, Any], list[ConfigProblem]]:
    """Check one ``SYMPHRA["BACKENDS"]`` entry the way both the system checks
    and ``backends[alias]`` do: its shape, its class, the packages that class
    needs, its options and the signatures of the class's methods.

    Returns the class (None if there is none to use), the options and the
    problems found, first problem first.
    """
    key = f"settings.SYMPHRA['BACKENDS'][{alias!r}]"
    if not isinstance(config, dict):
        return None, {}, [ConfigProblem("symphra_django.E002", f"{key} must be a dict with a 'BACKEND' key, got {config!r}.")]
    problems: list[ConfigProblem] = []
    unknown = sorted(set(config) - {"BACKEND", "OPTIONS"}, key=repr)
    if unknown:
        problems.append(ConfigProblem(
            "symphra_django.E002",
            f"{key} has unknown key(s) {', '.join(map(repr, unknown))}; valid keys are 'BACKEND' and 'OPTIONS'.",
        ))
    try:
        cls = backend_class(config.get("BACKEND", "database"), key=f"{key}['BACKEND']")
    except MissingPackage as exc:
        return None, {}, [*problems, ConfigProblem("symphra_django.E006", f"{key}: {exc}")]
    except ImproperlyConfigured as exc:
        return None, {}, [*problems, ConfigProblem("symphra_django.E002", str(exc))]
    options = config.get("OPTIONS") or {}
    if not isinstance(options, dict):
        return cls, {}, [*problems, ConfigProblem("symphra_django.E002", f"{key}['OPTIONS'] must be a dict, got {options!r}.")]
    problems += [ConfigProblem("symphra_django.E006", f"{key}: {missing}") for missing in cls.missing_packages(options)]
    accepted = accepted_options(cls)
    if accepted is not None:
        bad = sorted(set(options) - accepted - {"alias"}, key=repr)
        if bad:
            problems.append(ConfigProblem(
                "symphra_django.E007",
                f"{key}['OPTIONS'] has unknown option(s) {', '.join(map(repr, bad))} "
                f"for {cls.__name__}; valid options are {', '.join(sorted(accepted - {'alias'}))}.",
            ))
    mismatches = cls.contract_mismatches()
    if mismatches:
        problems.append(ConfigProblem(
            "symphra_django.E008",
            f"{key}['BACKEND'] is {cls.__module__}.{cls.__qualname__}, whose methods do not take the "
            f"parameters the QueueBackend contract passes: {'; '.join(mismatches)}.",
            hint="Change those methods to take the contract's parameters (docs/custom-backends.md).",
        ))
    return cls, options, problems


def build_backend(alias: str, config: Any) -> QueueBackend:
    cls, options, problems = entry_problems(alias, config)
    if problems:
        raise problems[0].error()
    assert cls is not None  # no problems: there is a class
    try:
        return cls(alias=alias, **options)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"settings.SYMPHRA['BACKENDS'][{alias!r}]['OPTIONS'] is invalid: {exc}") from exc


class BackendHandler:
    """``backends[alias]`` → the backend of that alias, built on first access.

    Getting a backend never touches the network: it connects on its first
    operation (``QueueBackend.ensure_connected``), so a broker that is down
    costs the caller one bounded attempt, not the retries of a worker's start.
    Each alias is built under its own lock: a slow or broken alias never
    holds up another.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the two dicts only
        self._alias_locks: dict[str, threading.Lock] = {}
        self._instances: dict[str, QueueBackend] = {}

    def aliases(self) -> list[str]:
        return list(conf.get("BACKENDS"))

    def settings_for(self, alias: str) -> dict[str, Any]:
        configured = conf.get("BACKENDS")
        if alias not in configured:
            raise ImproperlyConfigured(unknown_alias(alias, configured))
        return configured[alias]

    def __getitem__(self, alias: str) -> QueueBackend:
        backend = self._instances.get(alias)
        if backend is not None:
            return backend
        with self._lock:
            alias_lock = self._alias_locks.setdefault(alias, threading.Lock())
        with alias_lock:
            backend = self._instances.get(alias)
            if backend is None:
                backend = build_backend(alias, self.settings_for(alias))
                with self._lock:
                    self._instances[alias] = backend
            return backend

    def __contains__(self, alias: str) -> bool:
        return alias in conf.get("BACKENDS")

    def all(self) -> list[QueueBackend]:
        return [self[alias] for alias in self.aliases()]

    def set(self, alias: str, backend: QueueBackend) -> None:
        """Use ``backend`` for ``alias`` in this process (tests, embedding)."""
        with self._lock:
            self._instances[alias] = backend

    def close_all(self) -> None:
        with self._lock:
            instances, self._instances = self._instances, {}
        for backend in instances.values():
            try:
                backend.disconnect_sync()
            except Exception:
                logger.warning("could not close %s", backend.describe(), exc_info=True)


backends = BackendHandler()


def _reset_on_settings_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "SYMPHRA":
        backends.close_all()


setting_changed.connect(_reset_on_settings_change)
