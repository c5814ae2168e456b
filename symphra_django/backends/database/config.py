"""Which ``DATABASES`` aliases hold queue tables, read from ``SYMPHRA["BACKENDS"]``.

Shared by the router, the system checks and ``prunetasks``, which need the
answer without building (connecting) the backends.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from symphra_django import conf
from symphra_django.backends.handler import backend_class


def queue_databases() -> list[str]:
    """Aliases used by database backends, the ``default`` backend's first.

    Entries that are misconfigured are left out (the system checks report them).
    """
    from symphra_django.backends.database.backend import DatabaseBackend

    found: list[str] = []
    backends = conf.get("BACKENDS")
    for alias in sorted(backends, key=lambda name: name != "default"):
        config = backends[alias]
        if not isinstance(config, dict):
            continue
        try:
            cls = backend_class(config.get("BACKEND", "database"), key=alias)
        except ImproperlyConfigured:
            continue
        if issubclass(cls, DatabaseBackend):
            database = (config.get("OPTIONS") or {}).get("database", "default")
            if database not in found:
                found.append(database)
    return found
