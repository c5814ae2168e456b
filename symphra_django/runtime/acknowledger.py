"""Acknowledging finished tasks one by one, in groups, in the background.

A worker claims a batch of tasks and runs them one after the other. If it
acknowledged the batch only at its end, a worker killed mid-batch (SIGKILL,
OOM, a lost host) would have every task it already finished delivered and
run again. Acknowledging each task in its own round trip as it finishes
would cost a round trip per task.

The :class:`Acknowledger` does both: worker threads hand it each task as it
succeeds and go on at once; its thread acknowledges whatever finished within
the last ``delay`` seconds (on every thread of the pool) with one
``acknowledge_many`` call. After a kill, the tasks redone are the ones that
were running plus those finished in the last few milliseconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from symphra_django.messages import TaskMessage

logger = logging.getLogger("symphra_django.worker")

#: How long a finished task may wait for the tasks that finish after it, to
#: be acknowledged in the same call. Under load this gathers tens of tasks per
#: round trip; it is also the window of finished tasks a killed worker redoes.
ACK_DELAY = 0.002
#: Most tasks acknowledged in one call (more wait for the next one).
GROUP_SIZE = 512


class Acknowledger:
    """Acknowledges the messages handed to :meth:`add` from its own thread.

    ``acknowledge`` is called with each group (a list of messages) and must
    not raise (the pool's retrying call); ``settled`` is called with the group
    after it, acknowledged or not, so the pool stops renewing those leases.
    """

    def __init__(
        self,
        acknowledge: Callable[[list[TaskMessage]], object],
        settled: Callable[[list[TaskMessage]], None],
        *,
        delay: float = ACK_DELAY,
        group_size: int = GROUP_SIZE,
        name: str = "symphra-acknowledger",
    ) -> None:
        self._acknowledge = acknowledge
        self._settled = settled
        self.delay = delay
        self.group_size = group_size
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._pending: list[TaskMessage] = []
        self._since = 0.0
        self._sending: list[TaskMessage] = []
        self._closing = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def add(self, message: TaskMessage) -> None:
        """``message`` succeeded: acknowledge it soon. Once closed (a task
        that outlived the shutdown timeout), it is acknowledged here and now."""
        with self._cond:
            if not self._closing:
                self._pending.append(message)
                if len(self._pending) == 1:
                    self._since = time.monotonic()
                    self._cond.notify()
                elif len(self._pending) >= self.group_size:
                    self._cond.notify()
                return
        self._send([message])

    def holding(self) -> set[str]:
        """Ids of the messages handed over and not yet acknowledged."""
        with self._cond:
            return {message.id for message in (*self._pending, *self._sending)}

    def close(self, timeout: float | None = None) -> bool:
        """Acknowledge what is pending, then stop; True if that finished
        within ``timeout``."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._pending and not self._closing:
                        self._cond.wait()
                    if not self._pending:
                        return  # closing, and everything is acknowledged
                    # Group commit: let the tasks finishing right now join.
                    deadline = self._since + self.delay
                    while not self._closing and len(self._pending) < self.group_size:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    group = self._pending[: self.group_size]
                    self._pending = self._pending[self.group_size :]
                    if self._pending:
                        self._since = time.monotonic()
                    self._sending = group
                try:
                    self._send(group)
                except Exception:  # the leases expire and the tasks are redone
                    logger.error("could not acknowledge %d task(s); their leases will expire and "
                                 "they will be delivered again", len(group), exc_info=True)
        finally:
            from django.db import connections

            connections.close_all()  # this thread's own: it ends here

    def _send(self, group: list[TaskMessage]) -> None:
        try:
            self._acknowledge(group)
        finally:
            with self._cond:
                if self._sending is group:
                    self._sending = []
            self._settled(group)
