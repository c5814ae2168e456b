"""Waiting for something another thread, process or server does.

Tests never sleep for a fixed time hoping the other side is done: they ask
``wait_until`` to poll a condition, which returns as soon as it holds and
fails the test with a message naming what never happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.05,
    message: str | Callable[[], str] = "the condition",
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    After ``timeout`` seconds the test fails with ``message`` (a phrase naming
    what was awaited, or a callable giving one, read only on failure). Errors
    of the ``ignoring`` types count as "not yet" (a server still starting);
    any other error propagates at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except ignoring:
            pass
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            what = message() if callable(message) else message
            raise AssertionError(f"waited {timeout:g}s for {what}")
        time.sleep(interval)
