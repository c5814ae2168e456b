"""Tasks the test suite runs (autodiscovered like any app's tasks.py).

Side effects go to the ``Event`` list below so tests can see what ran; tests
that run tasks in another process use the database backend and count rows.
"""

import asyncio
import os
import threading
import time

from symphra_django import RetryPolicy, cron, task
from symphra_django.tasks.context import current_message

EVENTS: list[tuple] = []
_lock = threading.Lock()


def record(*event) -> None:
    with _lock:
        EVENTS.append(event)


@task
def noop() -> None:
    pass


@task
def remember(value) -> None:
    record("remember", value)


@task(queue="emails")
def send_email(address: str) -> None:
    record("send_email", address)


@task
async def async_remember(value) -> str:
    await asyncio.sleep(0.01)
    record("async_remember", value)
    return "done"


@task(retry_policy=RetryPolicy(max_attempts=3, strategy="none"))
def fail_twice(key: str) -> None:
    """Fails on its first two attempts, then succeeds."""
    attempts = sum(1 for e in EVENTS if e == ("fail_twice", key)) + 1
    record("fail_twice", key)
    if attempts < 3:
        raise ConnectionError(f"attempt {attempts} of {key} fails")


@task(retry_policy=RetryPolicy(max_attempts=2, strategy="none"))
def always_fails() -> None:
    record("always_fails")
    raise ValueError("this task always fails")


@task(retry_policy=RetryPolicy(max_attempts=3, strategy="none", retry_on=(ConnectionError,)))
def fails_with_type_error() -> None:
    record("fails_with_type_error")
    raise TypeError("not retryable")


@task(timeout=0.3, retry_policy="no_retry")
def too_slow() -> None:
    time.sleep(2)


@task(timeout=0.3, retry_policy="no_retry")
async def too_slow_async() -> None:
    await asyncio.sleep(2)


@task
def sleep_for(seconds: float, label: str = "") -> None:
    time.sleep(seconds)
    record("slept", label)


@task
def sleep_on_thread(seconds: float, label: str = "") -> None:
    time.sleep(seconds)
    record("slept on", threading.current_thread().name, label)


@task
def write_row(key: str, sleep: float = 0.0) -> None:
    """Counts a run in the database (for tests across processes)."""
    if sleep:
        time.sleep(sleep)
    _insert_run(key)


def _insert_run(key: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO sampleapp_run (key, pid, at) VALUES (%s, %s, %s)",
                       [key, os.getpid(), time.time()])


# max_instances: a run late under load must not make the next tick skip (that
# is overlap protection, not a lost tick, and not what these tests count).
@cron("* * * * * *", enabled=os.environ.get("SYMPHRA_E2E_CRON") == "1", max_instances=5)
def every_second() -> None:
    """Writes one row per run, keyed by its tick (e2e tests only)."""
    _insert_run(f"tick-{current_message().meta['tick']}")


@task
def record_tick(prefix: str) -> None:
    """Writes one row per run, keyed by ``prefix`` and its tick (e2e tests of
    database schedules)."""
    _insert_run(f"{prefix}-{current_message().meta['tick']}")
