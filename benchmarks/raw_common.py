"""What every raw-client baseline shares: a payload like the app's, the
timed enqueue loops and the timed claim → no-op → ack loop, in one or
several processes.

A raw driver (raw_sql, raw_redis, raw_pika) is a small class built from
picklable keyword arguments, so that spawned processes can rebuild it, with
``create()``/``drop()`` for its store, ``enqueue_one(payload)``,
``enqueue_many(payloads)``, ``claim(n)`` → ``[(handle, payload)]`` and
``ack(handles)``. A driver whose ``claim`` waits for the broker to push the
next message (``pushes = True``) also gets a lateness baseline.
"""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid
from typing import Any

#: Claimed and acknowledged per round trip, as the app's default BATCH_SIZE.
BATCH = 32
#: Rows per bulk enqueue statement or pipeline.
BULK = 500


def payload() -> str:
    """A JSON payload the size and shape of a TaskMessage of a no-op call."""
    return json.dumps({
        "id": uuid.uuid4().hex, "name": "benchmarks.noop", "args": [], "kwargs": {},
        "queue": "default", "priority": 0, "scheduled_time": time.time(), "attempts": 0,
        "max_attempts": 3, "meta": {},
    })


def noop(*args: Any) -> None:
    pass


def time_enqueue_one(driver: Any, count: int) -> float:
    """Seconds to enqueue ``count`` payloads one at a time (each durable on return)."""
    payloads = [payload() for _ in range(count)]
    started = time.perf_counter()
    for body in payloads:
        driver.enqueue_one(body)
    return time.perf_counter() - started


def time_enqueue_many(driver: Any, count: int) -> float:
    payloads = [payload() for _ in range(count)]
    started = time.perf_counter()
    for start in range(0, count, BULK):
        driver.enqueue_many(payloads[start : start + BULK])
    return time.perf_counter() - started


def fill(driver: Any, count: int) -> None:
    for start in range(0, count, BULK):
        driver.enqueue_many([payload() for _ in range(min(BULK, count - start))])


def consume(driver: Any, idle_rounds: int = 3) -> tuple[int, float]:
    """Claim → decode → run a no-op → ack, until the queue stays empty.
    Returns (tasks done, time.time() of the last ack)."""
    done, last, empty = 0, time.time(), 0
    while empty < idle_rounds:
        batch = driver.claim(BATCH)
        if not batch:
            empty += 1
            time.sleep(0.01)
            continue
        empty = 0
        for _, body in batch:
            message = json.loads(body)
            noop(*message["args"])
        driver.ack([handle for handle, _ in batch])
        done += len(batch)
        last = time.time()
    return done, last


def _consumer(cls: type, options: dict, start: Any, results: Any) -> None:
    try:
        driver = cls(**options)
        driver.connect()
        start.wait()
        results.put(consume(driver))
        driver.close()
    except Exception as exc:  # noqa: BLE001 - reported by the parent
        results.put(f"{type(exc).__name__}: {exc}")


def time_processing(cls: type, options: dict, count: int, processes: int) -> float:
    """Tasks per second of ``processes`` raw consumers draining ``count`` tasks."""
    driver = cls(**options)
    driver.connect()
    fill(driver, count)
    driver.close()
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    workers = [context.Process(target=_consumer, args=(cls, options, start, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    time.sleep(0.5)  # let every consumer connect before the clock starts
    began = time.time()
    start.set()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    errors = [outcome for outcome in outcomes if isinstance(outcome, str)]
    if errors:
        raise RuntimeError(f"raw consumer failed: {errors[0]}")
    done = sum(count for count, _ in outcomes)
    if done < count:
        raise RuntimeError(f"raw consumers processed {done} of {count} tasks")
    return done / (max(last for _, last in outcomes) - began)


def _late_consumer(cls: type, options: dict, count: int, ready: Any, results: Any) -> None:
    try:
        driver = cls(**options)
        driver.connect()
        driver.claim(1)  # subscribed before the producer starts
        ready.set()
        lateness: list[float] = []
        deadline = time.time() + 60
        while len(lateness) < count and time.time() < deadline:
            for handle, body in driver.claim(1):
                lateness.append(time.time() - json.loads(body)["scheduled_time"])
                driver.ack([handle])
        results.put(lateness)
        driver.close()
    except Exception as exc:  # noqa: BLE001 - reported by the parent
        results.put(f"{type(exc).__name__}: {exc}")


def time_lateness(cls: type, options: dict, rate: float, seconds: float) -> list[float]:
    """Sorted (receipt − due) seconds of one raw consumer taking each message
    as it is pushed, while this process enqueues ``rate`` payloads a second,
    one at a time, on a fixed clock (as the app's lateness run does)."""
    count = int(rate * seconds)
    context = multiprocessing.get_context("spawn")
    ready, results = context.Event(), context.Queue()
    consumer = context.Process(target=_late_consumer, args=(cls, options, count, ready, results))
    consumer.start()
    driver = cls(**options)
    driver.connect()
    if not ready.wait(60):
        raise RuntimeError("raw consumer did not start")
    began = time.time()
    for index in range(count):
        pause = began + index / rate - time.time()
        if pause > 0:
            time.sleep(pause)
        driver.enqueue_one(payload())
    outcome = results.get(timeout=120)
    consumer.join(30)
    driver.close()
    if isinstance(outcome, str):
        raise RuntimeError(f"raw consumer failed: {outcome}")
    if len(outcome) < count:
        raise RuntimeError(f"the raw consumer received {len(outcome)} of {count} messages")
    return sorted(outcome)
