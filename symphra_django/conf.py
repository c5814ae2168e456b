"""Settings, read lazily from ``settings.SYMPHRA`` in one place.

Every key has a default, so a project needs no ``SYMPHRA`` setting at all::

    SYMPHRA = {
        "BACKENDS": {
            "default": {"BACKEND": "database", "OPTIONS": {}},
        },
        "WORKERS": 4,
        ...
    }

Values are checked here; a bad one raises ``ImproperlyConfigured`` naming the
key, the value and what would be valid. A checked value is kept until Django
sends ``setting_changed`` (``override_settings`` does), because enqueueing
reads several keys per call; so are the values derived from them with
:func:`settings_cached`. Assigning to ``settings.SYMPHRA`` by hand sends no
signal: use ``override_settings`` or call :func:`clear_cache`.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_BACKENDS: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "database", "OPTIONS": {}},
}

DEFAULTS: dict[str, Any] = {
    # Aliases of queue backends, shaped like CACHES.
    "BACKENDS": DEFAULT_BACKENDS,
    # Queue names tasks may be enqueued on, beside those tasks declare.
    "QUEUES": ["default"],
    # Zone cron expressions are read in; None means settings.TIME_ZONE.
    "TIME_ZONE": None,
    # Worker threads per process, and worker processes per runscheduler.
    "WORKERS": 4,
    "PROCESSES": 1,
    # Tasks claimed (and acknowledged) per round trip to the backend.
    "BATCH_SIZE": 32,
    # Seconds a claimed task is leased before another worker may take it.
    "LEASE_SECONDS": 60.0,
    # Longest sleep of an idle worker between polls, in seconds.
    "POLL_INTERVAL": 0.25,
    # Seconds to let running tasks finish after SIGTERM/SIGINT.
    "SHUTDOWN_TIMEOUT": 30.0,
    # Default timeout of a task, in seconds (None: no limit).
    "TASK_TIMEOUT": None,
    # Default retry policy: a RetryPolicy, a preset name or a dict of its fields.
    "RETRY_POLICY": "default",
    # A periodic tick missed by up to this many seconds still runs (once).
    "MISFIRE_GRACE_TIME": 60.0,
    # Seconds finished tasks are kept as history (database backend), None: forever.
    "HISTORY_RETENTION": 7 * 24 * 3600,
    # Attempts to reach a backend at start before giving up.
    "CONNECT_RETRIES": 5,
    # Prometheus metrics (needs the prometheus extra): False, True, or a dict
    # of PROMETHEUS_OPTIONS (docs/observability.md).
    "PROMETHEUS": False,
    # Seconds between two saves of a runscheduler process's record in the worker registry.
    "HEARTBEAT_INTERVAL": 5.0,
    # A process not heard from for this many seconds is shown as gone (and not counted alive).
    "WORKER_TIMEOUT": 30.0,
    # The health probes report a queue whose oldest due task waits longer than this (seconds).
    "MAX_DUE_AGE": 300.0,
}

#: Keys of ``SYMPHRA["PROMETHEUS"]`` when it is a dict, and their defaults.
PROMETHEUS_OPTIONS: dict[str, Any] = {
    # Count task events in this process (enqueued, started, ...).
    "ENABLED": True,
    # Client addresses or networks the metrics view answers; None: any client.
    "ALLOWED_NETWORKS": None,
    # Seconds a scrape waits for the backends' queue counts, all together.
    "SCRAPE_TIMEOUT": 2.0,
}

#: Numeric settings: the accepted types and the smallest valid value.
_NUMBERS: dict[str, tuple[type[int] | tuple[type[int], type[float]], float]] = {
    "WORKERS": (int, 1),
    "PROCESSES": (int, 1),
    "BATCH_SIZE": (int, 1),
    "LEASE_SECONDS": ((int, float), 1),
    "POLL_INTERVAL": ((int, float), 0.001),
    "SHUTDOWN_TIMEOUT": ((int, float), 0),
    "MISFIRE_GRACE_TIME": ((int, float), 0),
    "CONNECT_RETRIES": (int, 0),
    "HEARTBEAT_INTERVAL": ((int, float), 0.01),
    "WORKER_TIMEOUT": ((int, float), 0.05),
    "MAX_DUE_AGE": ((int, float), 0),
}


def user_settings() -> dict[str, Any]:
    value = getattr(settings, "SYMPHRA", None)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ImproperlyConfigured(
            f"settings.SYMPHRA must be a dict, got {type(value).__name__}."
        )
    unknown = sorted(set(value) - set(DEFAULTS), key=repr)
    if unknown:
        guesses = [
            f"{close[0]!r} for {key!r}" for key in unknown if isinstance(key, str)
            for close in [difflib.get_close_matches(key.upper(), DEFAULTS, n=1)] if close
        ]
        raise ImproperlyConfigured(
            f"settings.SYMPHRA has unknown key(s) {', '.join(map(repr, unknown))}"
            + (f" (did you mean {', '.join(guesses)}?)" if guesses else "")
            + f"; valid keys are {', '.join(sorted(DEFAULTS))}."
        )
    return value


#: Checked values by key; only valid values are kept, so a bad one raises on
#: every read until it is fixed.
_checked: dict[str, Any] = {}
_derived_caches: list[Callable[[], None]] = []


def get(name: str) -> Any:
    """The value of ``SYMPHRA[name]``, or its default, checked."""
    try:
        return _checked[name]
    except KeyError:
        pass
    value = _checked[name] = _read(name)
    return value


def settings_cached(func: F) -> F:
    """Cache ``func``'s result per arguments until the settings change: for
    values derived from settings that are read on every enqueue."""
    cached = functools.lru_cache(maxsize=128)(func)
    _derived_caches.append(cached.cache_clear)
    return cached  # type: ignore[return-value]


def clear_cache() -> None:
    """Forget every checked and derived value: the next read sees the settings as they are."""
    _checked.clear()
    for clear in _derived_caches:
        clear()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("SYMPHRA", "TIME_ZONE", "USE_TZ"):
        clear_cache()


setting_changed.connect(_on_setting_changed, dispatch_uid="symphra_django.conf.clear_cache")


def _read(name: str) -> Any:
    if name not in DEFAULTS:
        raise KeyError(name)
    value = user_settings().get(name, DEFAULTS[name])
    if name in _NUMBERS:
        types, minimum = _NUMBERS[name]
        if isinstance(value, bool) or not isinstance(value, types) or value < minimum:
            raise ImproperlyConfigured(
                f"settings.SYMPHRA[{name!r}] is {value!r}; it must be a number "
                f">= {minimum}."
            )
    elif name in ("TASK_TIMEOUT", "HISTORY_RETENTION"):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
        ):
            raise ImproperlyConfigured(
                f"settings.SYMPHRA[{name!r}] is {value!r}; it must be a number "
                "of seconds > 0, or None."
            )
    elif name == "QUEUES":
        if not isinstance(value, (list, tuple)) or not all(isinstance(q, str) for q in value):
            raise ImproperlyConfigured(
                f"settings.SYMPHRA['QUEUES'] is {value!r}; it must be a list of "
                "queue names."
            )
    elif name == "PROMETHEUS":
        value = _prometheus_options(value)
    elif name == "BACKENDS":
        if not isinstance(value, dict) or not value:
            raise ImproperlyConfigured(
                f"settings.SYMPHRA['BACKENDS'] is {value!r}; it must be a non-empty "
                "dict of aliases, e.g. {'default': {'BACKEND': 'database'}}."
            )
    return value


def _prometheus_options(value: Any) -> dict[str, Any]:
    """``SYMPHRA["PROMETHEUS"]`` as a full dict of options, checked."""
    if isinstance(value, bool):
        return {**PROMETHEUS_OPTIONS, "ENABLED": value}
    if not isinstance(value, dict):
        raise ImproperlyConfigured(
            f"settings.SYMPHRA['PROMETHEUS'] is {value!r}; it must be True, False or a dict "
            f"with the keys {', '.join(PROMETHEUS_OPTIONS)}."
        )
    unknown = sorted(set(value) - set(PROMETHEUS_OPTIONS), key=repr)
    if unknown:
        raise ImproperlyConfigured(
            f"settings.SYMPHRA['PROMETHEUS'] has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"valid keys are {', '.join(PROMETHEUS_OPTIONS)}."
        )
    options = {**PROMETHEUS_OPTIONS, **value}
    if not isinstance(options["ENABLED"], bool):
        raise ImproperlyConfigured(
            f"settings.SYMPHRA['PROMETHEUS']['ENABLED'] is {options['ENABLED']!r}; it must be True or False."
        )
    timeout = options["SCRAPE_TIMEOUT"]
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ImproperlyConfigured(
            f"settings.SYMPHRA['PROMETHEUS']['SCRAPE_TIMEOUT'] is {timeout!r}; it must be a number of seconds > 0."
        )
    networks = options["ALLOWED_NETWORKS"]
    if networks is not None:
        import ipaddress

        try:
            if isinstance(networks, str) or not isinstance(networks, (list, tuple)):
                raise ValueError("not a list")
            options["ALLOWED_NETWORKS"] = tuple(ipaddress.ip_network(n, strict=False) for n in networks)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(
                f"settings.SYMPHRA['PROMETHEUS']['ALLOWED_NETWORKS'] is {networks!r}; it must be None or a "
                f"list of addresses or networks such as ['127.0.0.1', '10.0.0.0/8'] ({exc})."
            ) from None
    return options


def time_zone_name() -> str:
    return get("TIME_ZONE") or settings.TIME_ZONE or "UTC"
