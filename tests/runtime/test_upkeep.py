"""Upkeep: a backend's background work, on a thread of the worker process."""

from __future__ import annotations

import logging
import threading

import pytest

from symphra_django.backends.base import UPKEEP_RETRY_SECONDS
from symphra_django.backends.memory import MemoryBackend
from symphra_django.runtime.upkeep import Upkeep
from symphra_django.runtime.worker import WorkerPool
from tests.support.waiting import wait_until


class UpkeptBackend(MemoryBackend):
    wants_upkeep = True

    def __init__(self, answers: list[object] | None = None) -> None:
        super().__init__(alias="upkept")
        self.calls: list[str] = []
        self.answers = answers or []

    def upkeep(self) -> float:
        self.calls.append(threading.current_thread().name)
        answer = self.answers.pop(0) if self.answers else 0.01
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[return-value]


def upkeep_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("symphra-upkeep")]


def test_a_backend_that_wants_upkeep_gets_it_on_its_own_thread_while_workers_run():
    backend = UpkeptBackend()
    pool = WorkerPool(backend, ["default"], concurrency=1)
    pool.start()
    try:
        wait_until(lambda: len(backend.calls) >= 3, timeout=10, message="three upkeep calls")
    finally:
        assert pool.stop(5)
    assert set(backend.calls) == {"symphra-upkeep-upkept"}
    assert upkeep_threads() == []


def test_a_backend_that_does_not_want_upkeep_gets_no_thread():
    backend = MemoryBackend(alias="plain")
    pool = WorkerPool(backend, ["default"], concurrency=1)
    pool.start()
    try:
        assert upkeep_threads() == []
    finally:
        assert pool.stop(5)


def test_a_failing_upkeep_is_logged_once_per_run_of_failures_and_retried(caplog):
    backend = UpkeptBackend([RuntimeError("disk gone"), RuntimeError("disk gone"), 0.25])
    upkeep = Upkeep(backend)
    with caplog.at_level(logging.INFO, logger="symphra_django.worker"):
        assert upkeep.run_once() == UPKEEP_RETRY_SECONDS
        assert upkeep.run_once() == UPKEEP_RETRY_SECONDS
        assert upkeep.run_once() == 0.25
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "failed" in m]) == 1
    assert any("works again" in m for m in messages)


@pytest.mark.parametrize(
    ("answer", "wait"),
    [(float("nan"), UPKEEP_RETRY_SECONDS), (-5.0, 0.01), (0.0, 0.01), (1e12, 3600.0), (2, 2.0)],
)
def test_an_answer_can_neither_spin_the_thread_nor_park_it_forever(answer, wait):
    assert Upkeep(UpkeptBackend([answer])).run_once() == wait
