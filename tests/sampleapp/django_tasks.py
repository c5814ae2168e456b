"""``@django.tasks.task`` functions for the tests of symphra_django.django_tasks
(Django 6.0+ only: imported by those tests, never autodiscovered)."""

from __future__ import annotations

import asyncio
import threading
import time

from django.tasks import task

#: What the tasks below did, in order (tests in this process read it).
RAN: list[object] = []
_lock = threading.Lock()


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def fail(message: str) -> None:
    raise ValueError(message)


@task
async def async_add(a: int, b: int) -> int:
    return a + b


@task(takes_context=True)
def describe_context(context, label: str) -> dict:
    return {"label": label, "attempt": context.attempt, "id": context.task_result.id,
            "status": str(context.task_result.status)}


@task
def record(label: str) -> str:
    with _lock:
        RAN.append(label)
    return label


@task
def send_email(address: str) -> str:
    return f"sent to {address}"


@task
def returns_a_set() -> set:
    return {1, 2}


@task
def sleep(seconds: float) -> None:
    time.sleep(seconds)


@task
def interrupt(kind: str) -> None:
    """Raises the BaseException named ``kind``, as misbehaving task code may."""
    if kind == "KeyboardInterrupt":
        raise KeyboardInterrupt("pressed by the task")
    if kind == "SystemExit":
        raise SystemExit("exit by the task")
    raise GeneratorExit("closed by the task")


@task
async def async_cancelled() -> None:
    raise asyncio.CancelledError("cancelled by the task")
