"""The memory backend's due-task queue: lanes in arrival order, a heap for the rest."""

from __future__ import annotations

import heapq
import random

import pytest

from symphra_django.backends.memory import _Ready


def test_tasks_that_arrive_in_order_never_touch_the_heap():
    ready = _Ready()
    for seq in range(100):
        ready.push((-(seq % 3), 1000.0 + seq, seq, f"t{seq}"))
    assert ready.heap == []
    taken = [ready.pop() for _ in range(100)]
    assert taken == sorted(taken)  # higher priority first, then due time, then sequence
    assert len(ready) == 0 and not ready.lanes


def test_a_task_due_earlier_than_its_lanes_tail_still_comes_out_first():
    ready = _Ready()
    ready.push((0, 2000.0, 1, "late"))
    ready.push((0, 1000.0, 2, "promoted-from-delayed"))  # due earlier, arrived later
    assert [ready.pop()[3], ready.pop()[3]] == ["promoted-from-delayed", "late"]


@pytest.mark.parametrize("seed", range(20))
def test_any_mix_of_pushes_and_pops_comes_out_as_a_heap_would_give_it(seed):
    rng = random.Random(seed)
    ready, reference = _Ready(), []
    for seq in range(2000):
        if reference and rng.random() < 0.45:
            assert ready.pop() == heapq.heappop(reference)
        else:
            in_order = rng.random() < 0.8
            entry = (-rng.choice([0, 0, 0, 5, -5]), 1000.0 + (seq if in_order else rng.uniform(0, seq)), seq, str(seq))
            ready.push(entry)
            heapq.heappush(reference, entry)
        assert len(ready) == len(reference)
    while reference:
        assert ready.pop() == heapq.heappop(reference)
    with pytest.raises(IndexError):
        ready.pop()
