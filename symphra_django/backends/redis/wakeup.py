"""Wake idle workers when a task becomes ready, through Redis pub/sub and timers.

The enqueue and reject scripts publish on the queue's channel
``{prefix:queue}:wake`` whenever they file a task: an empty message when it
is due now, else the seconds until it falls due. One thread per
backend instance (started with the first listener, stopped on disconnect)
pattern-subscribes to every queue's channel under the prefix and sets the
listeners' events, so a worker sleeping between polls starts at once instead
of at its next poll; a delayed task arms a timer that wakes them when it
falls due. A claim that leaves a worker idle also tells when the next
delayed task is due (a task whose message was missed, or that another worker
handed back).

While the subscription is live the backend says it wakes its workers
(``wakes_workers``), and idle threads sleep until woken instead of polling
every millisecond under load. A lost subscription only costs latency: the
flag drops and workers poll again until it is back.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from symphra_django.backends.base import Listeners, Wakeable
from symphra_django.backends.redis.client import ReconnectingClient

logger = logging.getLogger("symphra_django.backends.redis")

_RESUBSCRIBE_PAUSE = 1.0
#: A wake-up message longer than this is not ours: it just wakes.
_MAX_MESSAGE = 32


class WakeListener:
    """Sets registered events whenever a message arrives on ``pattern``."""

    def __init__(self, connection: ReconnectingClient, pattern: str) -> None:
        self.connection = connection
        self.pattern = pattern
        self.listeners = Listeners()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._timer: threading.Timer | None = None
        self._timer_due = 0.0
        #: Whether the subscription is live: every filed task is heard.
        self.subscribed = False

    def add(self, event: Wakeable) -> None:
        self.listeners.add(event)
        with self._lock:
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._listen, name="symphra-redis-wakeup", daemon=True
                )
                self._thread.start()

    def remove(self, event: Wakeable) -> None:
        self.listeners.remove(event)

    def wake_in(self, seconds: float) -> None:
        """Wake the listeners in ``seconds`` (one timer: the earliest asked for)."""
        due = time.monotonic() + max(0.0, seconds)
        with self._lock:
            if not self.listeners or (self._timer is not None and self._timer_due <= due):
                return
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(max(0.0, seconds), self._fire)
            self._timer.daemon = True
            self._timer_due = due
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
        self.listeners.wake()

    def _heard(self, data: Any) -> None:
        """A script filed a task: wake a worker now, or when it falls due."""
        delay = 0.0
        if isinstance(data, bytes) and 0 < len(data) <= _MAX_MESSAGE:
            try:
                delay = float(data)
            except ValueError:
                pass  # not ours: waking costs one claim
        if delay > 0.0 and math.isfinite(delay):
            self.wake_in(delay)
        else:
            self.listeners.wake()

    def stop(self) -> None:
        self.listeners.clear()
        with self._lock:
            self._stop.set()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _listen(self) -> None:
        while not self._stop.is_set():
            pubsub: Any = None
            try:
                pubsub = self.connection.connect().pubsub()
                pubsub.psubscribe(self.pattern)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message.get("type") == "pmessage":
                        self._heard(message.get("data"))
                    elif message.get("type") == "psubscribe":
                        # Confirmed by the server: a user whose ACL lacks the
                        # channel gets an error instead, and workers poll.
                        self.subscribed = True
            except Exception:
                logger.debug("wake-up subscription to %s lost", self.connection.target.display,
                             exc_info=True)
                self._stop.wait(_RESUBSCRIBE_PAUSE)
            finally:
                self.subscribed = False
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001 - closing a dead connection
                        pass
