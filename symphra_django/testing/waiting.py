"""Waiting for something that takes time, without sleeping longer than needed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.02,
    message: str | Callable[[], str] = "the condition",
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``condition`` until it returns something truthy, and return that.

    It is called at once, then every ``interval`` seconds; after ``timeout``
    seconds without success an :class:`AssertionError` says what was awaited
    (``message``: a phrase, or a callable giving one, read only on failure).
    Errors of the ``ignoring`` types count as "not yet" (a server still
    starting); any other error, an assertion failing inside ``condition``
    included, fails at once, so a condition can both poll and check what it
    sees.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except ignoring:
            pass
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            what = message() if callable(message) else message
            raise AssertionError(f"waited {timeout:g}s for {what}")
        time.sleep(interval)


def wait_for_time(moment: float, *, interval: float = 0.01) -> None:
    """Return once the wall clock (``time.time()``) has reached ``moment``.

    For rules about time itself (a lease running out, a task falling due),
    where the backend under test reads the wall clock.
    """
    wait_until(
        lambda: time.time() >= moment,
        timeout=max(0.0, moment - time.time()) + 5.0,
        interval=interval,
        message=f"the clock to reach {moment}",
    )
