"""Retry policies: how many attempts a task gets and how long to wait between.

A retry is a durable re-enqueue with a delay (the worker rejects the delivery
with ``requeue=True, delay=...``); nothing sleeps inside a worker.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from symphra_django import conf

# Where crash redeliveries are counted now; importable from here as before.
from symphra_django.messages import CRASH_REDELIVERIES  # noqa: F401


class RetryStrategy(str, Enum):
    EXPONENTIAL = "exponential"
    FIXED = "fixed"
    RANDOM = "random"
    NONE = "none"


@dataclass(frozen=True)
class RetryPolicy:
    """How a failing task is retried.

    ``max_attempts`` counts every run, the first included (1 means no retry);
    a message carries it as its own ``max_attempts``. A delivery lost to a
    crashed worker counts as a run too, and a message is delivered at most
    ``max_attempts + CRASH_REDELIVERIES`` times in all.
    The wait before attempt ``n + 1`` is, by ``strategy``:

    * ``exponential``: ``wait_min * multiplier ** (n - 1)``, with jitter
      (a random value between half of it and all of it), capped at ``wait_max``;
    * ``fixed``: ``wait_min``;
    * ``random``: uniform between ``wait_min`` and ``wait_max``;
    * ``none``: no wait.

    Only exceptions that are instances of ``retry_on`` are retried; any other
    exception fails the task at once.
    """

    max_attempts: int = 3
    strategy: RetryStrategy | str = RetryStrategy.EXPONENTIAL
    wait_min: float = 1.0
    wait_max: float = 300.0
    multiplier: float = 2.0
    jitter: bool = True
    retry_on: tuple[type[BaseException], ...] = field(default=(Exception,))

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "strategy", RetryStrategy(self.strategy))
        except ValueError:
            raise ValueError(
                f"unknown retry strategy {self.strategy!r}; choose one of "
                f"{', '.join(s.value for s in RetryStrategy)}"
            ) from None
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"max_attempts must be an integer >= 1, got {self.max_attempts!r}")
        if self.wait_min < 0 or self.wait_max < self.wait_min:
            raise ValueError(
                f"need 0 <= wait_min <= wait_max, got wait_min={self.wait_min!r}, "
                f"wait_max={self.wait_max!r}"
            )
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier!r}")
        retry_on = self.retry_on if isinstance(self.retry_on, tuple) else (self.retry_on,)
        if not all(isinstance(t, type) and issubclass(t, BaseException) for t in retry_on):
            raise ValueError(f"retry_on must be exception classes, got {self.retry_on!r}")
        object.__setattr__(self, "retry_on", retry_on)

    # Presets, named as in symphra-scheduler.
    @classmethod
    def no_retry(cls) -> RetryPolicy:
        return cls(max_attempts=1, strategy=RetryStrategy.NONE)

    @classmethod
    def default(cls) -> RetryPolicy:
        return cls()

    @classmethod
    def aggressive(cls) -> RetryPolicy:
        return cls(max_attempts=10, wait_min=0.5, wait_max=60.0, multiplier=1.5)

    PRESETS = ("no_retry", "default", "aggressive")

    @classmethod
    def from_value(cls, value: Any, *, what: str = "retry policy") -> RetryPolicy:
        """A policy from a RetryPolicy, a preset name or a dict of fields."""
        if isinstance(value, RetryPolicy):
            return value
        if isinstance(value, str):
            if value not in cls.PRESETS:
                raise ValueError(
                    f"unknown {what} preset {value!r}; choose one of {', '.join(cls.PRESETS)}"
                )
            return getattr(cls, value)()
        if isinstance(value, dict):
            valid = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - valid)
            if unknown:
                raise ValueError(
                    f"{what} has unknown field(s) {', '.join(map(repr, unknown))}; "
                    f"valid fields are {', '.join(sorted(valid))}"
                )
            return cls(**value)
        raise ValueError(
            f"{what} must be a RetryPolicy, a preset name or a dict, got {value!r}"
        )

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """Whether the run numbered ``attempt`` (1-based) that raised ``exc`` is retried."""
        return attempt < self.max_attempts and isinstance(exc, self.retry_on)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the failed run numbered ``attempt`` (1-based)."""
        if self.strategy is RetryStrategy.NONE:
            return 0.0
        if self.strategy is RetryStrategy.FIXED:
            return self.wait_min
        if self.strategy is RetryStrategy.RANDOM:
            return random.uniform(self.wait_min, self.wait_max)
        base = min(self.wait_max, self.wait_min * self.multiplier ** max(0, attempt - 1))
        if self.jitter:
            base = random.uniform(base / 2, base)
        return max(self.wait_min, min(self.wait_max, base))


@conf.settings_cached
def default_policy() -> RetryPolicy:
    """The policy of ``SYMPHRA["RETRY_POLICY"]`` for tasks that declare none."""
    from django.core.exceptions import ImproperlyConfigured

    try:
        return RetryPolicy.from_value(conf.get("RETRY_POLICY"), what="settings.SYMPHRA['RETRY_POLICY']")
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
