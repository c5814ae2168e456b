"""The RabbitMQ backend's priority mapping and delay ladder routing (no broker needed)."""

from __future__ import annotations

import pytest

pytest.importorskip("pika")

from symphra_django.backends.rabbitmq.topology import (  # noqa: E402
    LEVELS,
    LOWEST_LEVEL,
    MAX_LADDER_DELAY,
    Topology,
    broker_priority,
    delay_bits,
)


def ladder_millis(bits: list[int]) -> int:
    return sum(2**level for level, bit in zip(LEVELS, bits) if bit)


@pytest.mark.parametrize("max_priority", [1, 2, 10, 20, 199, 200, 255])
def test_priority_mapping_is_monotonic_and_never_leaves_the_broker_range(max_priority):
    mapped = [broker_priority(p, max_priority) for p in range(-100, 101)]
    assert mapped == sorted(mapped)
    assert 0 <= mapped[0] and mapped[-1] <= max_priority
    assert broker_priority(0, max_priority) < broker_priority(1, max_priority)
    if max_priority >= 2:
        assert broker_priority(-1, max_priority) < broker_priority(0, max_priority)


def test_the_default_ten_levels_keep_the_small_priorities_apart():
    levels = {p: broker_priority(p, 10) for p in (-100, -16, -5, -1, 0, 1, 2, 3, 5, 10, 15, 16, 50, 100)}
    assert levels == {-100: 0, -16: 0, -5: 2, -1: 4, 0: 5, 1: 6, 2: 7, 3: 7, 5: 8, 10: 9, 15: 9,
                      16: 10, 50: 10, 100: 10}


def test_two_hundred_levels_or_more_give_every_priority_its_own():
    assert [broker_priority(p, 200) for p in (-100, -1, 0, 1, 100)] == [0, 99, 100, 101, 200]
    assert len({broker_priority(p, 255) for p in range(-100, 101)}) == 201


def test_priorities_out_of_range_are_clamped_and_zero_levels_map_to_zero():
    assert broker_priority(1000, 10) == 10
    assert broker_priority(-1000, 10) == 0
    assert broker_priority(100, 0) == 0


@pytest.mark.parametrize("delay", [0.001, 0.016, 0.5, 1.0, 1.234, 59.9, 3600, 7 * 86400, 40 * 86400])
def test_a_delay_is_rounded_up_never_down_and_by_less_than_one_step(delay):
    millis = ladder_millis(delay_bits(delay))
    assert millis >= delay * 1000
    assert millis - delay * 1000 < 2**LOWEST_LEVEL


def test_delays_beyond_the_ladder_are_capped_to_one_full_pass():
    assert ladder_millis(delay_bits(10 * MAX_LADDER_DELAY)) == round(MAX_LADDER_DELAY * 1000)


def test_no_delay_routes_through_every_level_without_waiting():
    assert delay_bits(0) == [0] * len(LEVELS)


def test_a_delayed_routing_key_carries_the_bits_then_the_queue_name():
    topology = Topology("ns")
    exchange, key = topology.delay_route("emails.high", 1.0)
    assert exchange == topology.delay_name(LEVELS[0])
    words = key.split(".")
    assert words[len(LEVELS):] == ["emails", "high"]
    assert ladder_millis([int(w) for w in words[: len(LEVELS)]]) == 1008


def test_each_ladder_level_binds_its_own_bit_position():
    topology = Topology("ns")
    binds = [op for op in topology.base_declarations() if op[0] == "queue_bind"]
    assert [kwargs["routing_key"] for _, kwargs in binds][:2] == ["1.#", "*.1.#"]
    ttls = [
        kwargs["arguments"]["x-message-ttl"]
        for method, kwargs in topology.base_declarations() if method == "queue_declare"
    ]
    assert ttls == [2**level for level in LEVELS]


def test_work_queues_are_priority_queues_and_failed_queues_are_not():
    declarations = Topology("ns", max_priority=7).queue_declarations("default")
    queues = {kwargs["queue"]: kwargs["arguments"] for m, kwargs in declarations if m == "queue_declare" and "arguments" in kwargs}
    assert queues == {"ns.q.default": {"x-max-priority": 7}}
