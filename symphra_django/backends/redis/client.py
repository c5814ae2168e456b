"""A redis-py client that survives outages: one bounded attempt to connect, backoff mid-run.

:meth:`ReconnectingClient.connect` makes one attempt, bounded by the socket
timeouts, and raises :class:`BackendUnavailable` if it fails (``runscheduler``
retries that with backoff at start; a view's enqueue does not wait). Mid-run,
:meth:`ReconnectingClient.call` retries an operation with backoff for up to
``reconnect_timeout`` seconds, logging one line when the connection is lost
and one when it is back (the URL's password masked).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from symphra_django.backends.redis.connection import RedisTarget, build_client, import_redis
from symphra_django.backends.redis.keys import register_scripts
from symphra_django.exceptions import BackendUnavailable

logger = logging.getLogger("symphra_django.backends.redis")

T = TypeVar("T")
_BACKOFF_START, _BACKOFF_CAP = 0.05, 2.0


class ReconnectingClient:
    """One redis-py client (and its scripts) for a target, rebuilt as needed."""

    def __init__(self, target: RedisTarget, options: dict[str, Any], reconnect_timeout: float) -> None:
        redis = import_redis()
        from redis.exceptions import ClusterDownError, ReadOnlyError

        self.target = target
        self.options = options
        self.reconnect_timeout = reconnect_timeout
        #: Errors that mean "not reachable right now", as opposed to a bug.
        self.transient = (redis.ConnectionError, redis.TimeoutError, ReadOnlyError, ClusterDownError)
        self._auth_error = redis.AuthenticationError
        self.client: Any = None
        self.scripts: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._outage_lock = threading.Lock()
        self._outage_since: float | None = None

    def connect(self) -> Any:
        """The client, connecting first if needed: one attempt, bounded by
        the socket timeouts; ``BackendUnavailable`` if Redis cannot be
        reached (``runscheduler`` retries that at start)."""
        if self.client is not None:
            return self.client
        with self._lock:
            if self.client is not None:
                return self.client
            try:
                return self._open()
            except self._auth_error as exc:
                raise BackendUnavailable(
                    f"Redis at {self.target.display} refused the credentials: {exc}"
                ) from None
            except Exception as exc:  # noqa: BLE001 - any failure to reach it
                raise BackendUnavailable(f"cannot reach Redis at {self.target.display}: {exc}") from None

    def _open(self) -> Any:
        client = build_client(self.target, **self.options)
        client.ping()
        self.scripts = register_scripts(client)
        self.client = client
        return client

    def ping_once(self) -> bool:
        """One quick PING (connecting once if needed): for health checks."""
        return bool(self.connect().ping())

    def close(self) -> None:
        with self._lock:
            client, self.client = self.client, None
        if client is not None:
            client.close()

    def call(self, func: Callable[[Any], T]) -> T:
        """Run ``func(client)``; on a lost connection, reconnect with backoff.

        Only safe for operations that can run twice: the backend's scripts
        are (an enqueue is de-duplicated by id, a claim whose reply was lost
        leaves its tasks leased to nobody until the lease expires, an ack or
        reject that already happened is refused).
        """
        client = self.connect()
        try:
            return func(client)
        except self.transient as exc:
            return self._reconnect(func, exc)

    def _reconnect(self, func: Callable[[Any], T], exc: Exception) -> T:
        started = time.monotonic()
        with self._outage_lock:
            first = self._outage_since is None
            if first:
                self._outage_since = started
        if first:
            logger.warning(
                "lost the connection to Redis at %s (%s); reconnecting with backoff for up to %.0f s",
                self.target.display, exc, self.reconnect_timeout,
            )
        pause = _BACKOFF_START
        while time.monotonic() - started < self.reconnect_timeout:
            time.sleep(pause * random.uniform(0.5, 1.0))
            pause = min(pause * 2, _BACKOFF_CAP)
            try:
                result = func(self.connect())
            except (*self.transient, BackendUnavailable) as again:
                exc = again
                continue
            with self._outage_lock:
                since, self._outage_since = self._outage_since, None
            if since is not None:
                logger.warning(
                    "reconnected to Redis at %s after %.1f s", self.target.display,
                    time.monotonic() - since,
                )
            return result
        raise BackendUnavailable(
            f"Redis at {self.target.display} unreachable for {self.reconnect_timeout:.0f} s: {exc}"
        ) from None
