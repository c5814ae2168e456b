"""Running a call in its own thread and waiting for it a bounded time."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def run_with_timeout(
    func: Callable[[], T], timeout: float, *, name: str, timed_out: Callable[[], BaseException]
) -> T:
    """``func()``, run in a daemon thread that sees the caller's context
    variables; its result or exception, or ``timed_out()`` raised once
    ``timeout`` seconds have passed.

    Python cannot stop a thread: one past its time is abandoned (a daemon
    thread, so it cannot block exit) and closes its own database connections
    when it ends.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        from django.db import connections

        try:
            outcome["value"] = func()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            connections.close_all()  # this thread's own: it ends here

    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(target,), name=name, daemon=True
    )
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise timed_out()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
