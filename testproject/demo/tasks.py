"""Example tasks, found by symphra_django's autodiscovery of ``tasks.py``."""

import asyncio
import logging

from symphra_django import RetryPolicy, cron, interval, task

logger = logging.getLogger("demo")

# Attempts per key, to show a task that fails once and succeeds on retry.
# (Module state is fine here: the demo runs one worker process.)
_attempts: dict[str, int] = {}


@cron("*/5 * * * * *")
def heartbeat() -> None:
    """Every 5 seconds (6-field cron, seconds first)."""
    logger.info("heartbeat: the seconds-level cron task ran")


@interval(30)
def tidy_up() -> str:
    """Every 30 seconds, at :00 and :30."""
    logger.info("tidy_up: the interval task ran")
    return "tidied"


@task(queue="emails", priority=10)
def send_welcome_email(user_id: int, *, template: str = "welcome") -> None:
    """An on-demand task, enqueued from a view."""
    logger.info("send_welcome_email: sent %r to user %s", template, user_id)


@task
async def check_status(service: str) -> dict:
    """An ``async def`` task, run on the worker's event loop."""
    await asyncio.sleep(0.1)
    logger.info("check_status: %s is up", service)
    return {"service": service, "up": True}


@task(retry_policy=RetryPolicy(max_attempts=3, strategy="fixed", wait_min=2))
def flaky_import(key: str) -> None:
    """Fails on its first attempt, succeeds on the retry 2 seconds later."""
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] == 1:
        raise ConnectionError(f"flaky_import({key!r}): upstream not ready, will retry")
    logger.info("flaky_import: %r imported on attempt %d", key, _attempts[key])
