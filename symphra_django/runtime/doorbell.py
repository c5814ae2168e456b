"""How idle worker threads of one pool are woken: one thread per ring.

A backend that knows when work arrives sets its listeners
(``QueueBackend.add_listener``); setting a whole-pool ``threading.Event``
would wake every idle thread for one task, and all but one would claim
nothing, each at the cost of a round trip. A :class:`Doorbell` lets one
waiting thread through per ring instead; a thread that claims a full batch
rings again, so a burst draws in more threads as it needs them.
"""

from __future__ import annotations

import threading


class Doorbell:
    """Rings wake one waiting thread each; ``open`` lets every thread through.

    ``set`` is the ring, so that a backend can treat a doorbell like the
    ``threading.Event`` of ``add_listener``. A ring with no thread waiting is
    kept for the next one that comes to wait, up to ``limit`` rings.
    """

    def __init__(self, limit: int) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._limit = max(1, limit)
        self._rings = 0
        self._open = False

    def set(self) -> None:
        with self._cond:
            if self._rings < self._limit:
                self._rings += 1
            self._cond.notify()

    def open(self) -> None:
        """Wake every thread now and let every later ``wait`` return at once."""
        with self._cond:
            self._open = True
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        """Wait for a ring (or ``open``) up to ``timeout`` seconds; True if rung."""
        with self._cond:
            if not self._rings and not self._open:
                self._cond.wait(timeout)
            if self._open:
                return True
            if self._rings:
                self._rings -= 1
                return True
            return False
