"""Background upkeep of a queue backend, on a thread of the worker process.

Some stores need work that is nobody's task: SQLite's write-ahead log has
to be folded back into the database file now and then. Left to SQLite, the
commit that happens to cross the log's size limit does it, and the claim,
acknowledgement or enqueue behind that commit waits for a copy and an
fsync. A backend that sets ``wants_upkeep`` gets its ``upkeep()`` called
here instead, as often as it asks, off every task's path.
"""

from __future__ import annotations

import logging
import math
import threading

from symphra_django.backends.base import UPKEEP_RETRY_SECONDS, QueueBackend

logger = logging.getLogger("symphra_django.worker")


class Upkeep:
    """Calls ``backend.upkeep()`` on a thread of its own until stopped."""

    def __init__(self, backend: QueueBackend) -> None:
        self.backend = backend
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: Whether the last call raised (a run of failures is logged once).
        self.failing = False

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name=f"symphra-upkeep-{self.backend.alias}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> float:
        """One call of the backend's upkeep; the seconds to wait for the next."""
        try:
            wait = float(self.backend.upkeep())
        except Exception:  # the next call may succeed; tasks go on meanwhile
            if not self.failing:
                logger.warning("upkeep of %s failed; retrying every %gs",
                               self.backend.describe(), UPKEEP_RETRY_SECONDS, exc_info=True)
            self.failing = True
            return UPKEEP_RETRY_SECONDS
        if self.failing:
            logger.info("upkeep of %s works again", self.backend.describe())
            self.failing = False
        # A nonsense answer must neither spin this thread nor park it forever.
        return UPKEEP_RETRY_SECONDS if math.isnan(wait) else min(max(wait, 0.01), 3600.0)

    def _loop(self) -> None:
        from django.db import connections

        try:
            while not self._stopping.wait(self.run_once()):
                pass
        finally:
            connections.close_all()
