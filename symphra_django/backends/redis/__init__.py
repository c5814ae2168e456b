"""The Redis backend: sorted sets and hashes changed only by Lua scripts.

``backend`` holds :class:`RedisBackend`, ``keys`` the key layout and the
script loader, ``lua/`` the scripts themselves (``claim.lua`` is the claim),
``connection`` turning settings into a redis-py client (URL, django-redis
alias, Sentinel, Cluster), ``client`` reconnecting with a bounded back-off,
``wakeup`` the pub/sub channel that wakes idle workers.

``RedisBackend`` is imported on first access, so that projects without the
``redis`` package can import this package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RedisBackend"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from symphra_django.backends.redis import backend

        return getattr(backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
