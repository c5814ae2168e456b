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
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from symphra_django.backends.redis.connection import RedisTarget, build_client, import_redis
from symphra_django.backends.redis.keys import register_scripts
from symphra_django.exceptions import BackendUnavailable

logger = logging.getLogger("symphra_django.backends.redis")

T = TypeVar("T")
_BACKOFF_START, _BACKOFF_CAP = 0.05, 2.0
#: Socket timeout of a reconnection probe when none is configured.
_PROBE_TIMEOUT = 5.0


@dataclass
class Outage:
    """One period during which Redis does not answer (as the clock reads it)."""

    started: float
    given_up: bool = False


class ReconnectingClient:
    """One redis-py client (and its scripts) for a target, rebuilt as needed.

    ``clock`` (monotonic seconds) and ``sleep`` are injectable so that a
    test can run an outage's time limit without waiting for it.
    """

    def __init__(
        self,
        target: RedisTarget,
        options: dict[str, Any],
        reconnect_timeout: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        redis = import_redis()
        from redis.exceptions import ClusterDownError, ReadOnlyError

        self.target = target
        self.options = options
        self.reconnect_timeout = reconnect_timeout
        self.clock = clock
        self.sleep = sleep
        #: Errors that mean "not reachable right now", as opposed to a bug.
        self.transient = (redis.ConnectionError, redis.TimeoutError, ReadOnlyError, ClusterDownError)
        self._auth_error = redis.AuthenticationError
        self._no_script = redis.exceptions.NoScriptError
        self.client: Any = None
        self.scripts: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._outage_lock = threading.Lock()
        self._outage: Outage | None = None

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

    def run_script(self, name: str, client: Any, keys: tuple[str, ...], args: list[Any]) -> Any:
        """Run script ``name`` on ``client`` (as :meth:`call` passes it) by EVALSHA.

        The same as calling redis-py's Script object, minus the work that
        object repeats on every call (an import, copying keys and arguments);
        a server that lost the script (restarted, SCRIPT FLUSH, a failover)
        gets it loaded again through that object.
        """
        script = self.scripts[name]
        try:
            return client.evalsha(script.sha, len(keys), *keys, *args)
        except self._no_script:
            return script(keys=keys, args=args, client=client)

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
            result = func(client)
        except self.transient as exc:
            return self._reconnect(func, exc)
        if self._outage is not None:
            self._recovered()
        return result

    def _reconnect(self, func: Callable[[Any], T], exc: Exception) -> T:
        with self._outage_lock:
            outage = self._outage
            first = outage is None
            if outage is None:
                outage = self._outage = Outage(started=self.clock())
        if first:
            logger.warning(
                "lost the connection to Redis at %s (%s); reconnecting with backoff for up to %.0f s",
                self.target.display, exc, self.reconnect_timeout,
            )
        pause = _BACKOFF_START
        while (left := self._time_left(outage)) > 0:
            self.sleep(min(pause * random.uniform(0.5, 1.0), left))
            pause = min(pause * 2, _BACKOFF_CAP)
            left = self._time_left(outage)
            if left <= 0:
                break
            try:
                # A probe whose timeouts end with the outage's time limit,
                # then the operation itself (on the usual client) once
                # Redis answers.
                self._probe(left)
                result = func(self.connect())
            except (*self.transient, BackendUnavailable) as again:
                exc = again
                continue
            self._recovered()
            return result
        self._give_up(outage, exc)

    def _time_left(self, outage: Outage) -> float:
        return self.reconnect_timeout - (self.clock() - outage.started)

    def _probe(self, left: float) -> None:
        """One PING on a fresh connection, all of it bounded by ``left`` seconds."""
        configured = self.options.get("socket_timeout") or _PROBE_TIMEOUT
        # Connecting and reading each get half of what is left.
        timeout = max(min(configured, left / 2), 0.001)
        probe = build_client(self.target, **{**self.options, "socket_timeout": timeout}, retries=0)
        try:
            probe.ping()
        finally:
            probe.close()

    def _give_up(self, outage: Outage, exc: Exception) -> NoReturn:
        with self._outage_lock:
            first = not outage.given_up
            outage.given_up = True
        message = (
            f"Redis at {self.target.display} unreachable for {self.reconnect_timeout:.0f} s: {exc}"
        )
        if first:
            logger.error(
                "%s; giving up: operations raise BackendUnavailable until it answers again", message,
            )
        raise BackendUnavailable(message) from None

    def _recovered(self) -> None:
        with self._outage_lock:
            outage, self._outage = self._outage, None
        if outage is not None:
            logger.warning(
                "reconnected to Redis at %s after %.1f s", self.target.display,
                self.clock() - outage.started,
            )
