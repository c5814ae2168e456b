"""A clock tests can move forward, for the backends that take a ``clock``.

A lease running out or a retry falling due is then a call to ``advance``,
not a sleep on the wall clock.
"""

from __future__ import annotations

import threading
import time


class FakeClock:
    """Epoch seconds: the real time plus however far the test has advanced it.

    It follows the real clock rather than standing still because messages
    stamp their own times with ``time.time()`` (a new message is due "now"):
    a clock frozen at its creation would see every later message as not yet
    due. It only ever runs ahead of the real clock, never behind it.
    """

    def __init__(self) -> None:
        self._ahead = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return time.time() + self._ahead

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward (for everyone reading it)."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._ahead += seconds
