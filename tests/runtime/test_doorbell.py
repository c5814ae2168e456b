"""The doorbell of a worker pool: one ring wakes one idle thread."""

from __future__ import annotations

import threading
import time

from symphra_django.runtime.doorbell import Doorbell


def waiters(doorbell: Doorbell, count: int, timeout: float) -> tuple[list[threading.Thread], list[bool]]:
    results: list[bool] = []
    lock = threading.Lock()

    def wait() -> None:
        rung = doorbell.wait(timeout)
        with lock:
            results.append(rung)

    threads = [threading.Thread(target=wait) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, results


def settle(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(5)


def test_one_ring_lets_one_waiting_thread_through():
    doorbell = Doorbell(limit=4)
    threads, results = waiters(doorbell, 3, timeout=1.0)
    time.sleep(0.1)
    doorbell.set()
    settle(threads)
    assert sorted(results) == [False, False, True]


def test_a_ring_with_nobody_waiting_is_kept_for_the_next_waiter():
    doorbell = Doorbell(limit=4)
    doorbell.set()
    assert doorbell.wait(0) is True
    assert doorbell.wait(0) is False


def test_rings_are_kept_up_to_the_limit():
    doorbell = Doorbell(limit=2)
    for _ in range(5):
        doorbell.set()
    assert [doorbell.wait(0) for _ in range(3)] == [True, True, False]


def test_open_wakes_every_thread_and_every_later_wait():
    doorbell = Doorbell(limit=1)
    threads, results = waiters(doorbell, 3, timeout=5.0)
    time.sleep(0.1)
    started = time.monotonic()
    doorbell.open()
    settle(threads)
    assert results == [True, True, True]
    assert time.monotonic() - started < 4
    assert doorbell.wait(5.0) is True


def test_a_wait_with_no_ring_times_out():
    assert Doorbell(limit=1).wait(0.05) is False
