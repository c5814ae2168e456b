"""Names, arguments and routing of the RabbitMQ backend's exchanges and queues.

Everything the backend declares is named after ``exchange_name`` (the
*namespace*), so two projects (or two test runs) on one vhost never meet::

    <ns>                      direct exchange: "q.<queue>" → work queue,
                              "failed.<queue>" → failed queue
    <ns>.q.<queue>            work queue (x-max-priority), one per named queue
    <ns>.failed.<queue>       failed (dead-letter) queue, one per named queue
    <ns>.delay.<2^k>ms        delay exchange + TTL queue of level k, k = 4..31
    <ns>.due                  topic exchange the ladder's last level feeds

Delays without a broker plugin use a *binary ladder* of TTL queues (the
design NServiceBus uses): a delay in milliseconds, rounded up to 16 ms, is
written in binary into the routing key, one word per level, highest first,
followed by the queue name. Each level k has a topic exchange that sends a
message whose bit k is 1 into a queue with ``x-message-ttl`` = 2^k ms, and one
whose bit is 0 straight on to level k-1's exchange. The TTL queue dead-letters
into level k-1's exchange; the routing key never changes, so after level 4 the
message reaches ``<ns>.due``, whose bindings (``*.*. … .<queue>``) send it to
its work queue. Every message in one TTL queue has the same TTL, so the head
always expires first and nothing waits behind a longer delay. 28 levels
cover 16 ms to ~49 days with 56 fixed queues and exchanges, however many
messages are delayed; a longer delay takes the ladder again on arrival.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from symphra_django.messages import MAX_PRIORITY, MIN_PRIORITY

#: Delay ladder levels: 2^k milliseconds for k in this range.
LOWEST_LEVEL = 4
HIGHEST_LEVEL = 31
LEVELS = tuple(range(HIGHEST_LEVEL, LOWEST_LEVEL - 1, -1))
#: Longest delay one pass through the ladder gives, in seconds.
MAX_LADDER_DELAY = (2 ** (HIGHEST_LEVEL + 1) - 2**LOWEST_LEVEL) / 1000.0


def broker_priority(priority: int, max_priority: int) -> int:
    """Map our priority (-100..100) onto the broker's 0..max_priority.

    Monotonic. With ``max_priority`` of 200 or more every priority has a
    level of its own (``priority + 100``). With fewer levels, 0 takes the
    middle one and each level above (below) it holds a doubling band of
    priorities: 1, 2–3, 4–7, 8–15, 16–31, 32–63, 64–100 (and their
    negatives), the last usable level taking every band beyond it. So the
    small priorities most projects use (0, 1, 5, 10) stay apart at the
    broker with its default 10 levels, and the broker sends a backlog's
    higher ones first; the backend orders what it has prefetched exactly.
    """
    if max_priority <= 0:
        return 0
    clamped = min(MAX_PRIORITY, max(MIN_PRIORITY, priority))
    if max_priority >= MAX_PRIORITY - MIN_PRIORITY:
        return clamped - MIN_PRIORITY
    middle = max_priority // 2
    band = abs(clamped).bit_length()
    if clamped >= 0:
        return middle + min(band, max_priority - middle)
    return middle - min(band, middle)


def delay_bits(delay: float) -> list[int]:
    """The ladder bits (highest level first) of a delay in seconds, rounded up."""
    # Clamped first: a due time centuries away (a hostile payload may carry
    # one) takes the longest pass and is looked at again when it arrives.
    steps = math.ceil(min(max(0.0, delay), MAX_LADDER_DELAY) * 1000 / 2**LOWEST_LEVEL)
    steps = min(steps, 2 ** (HIGHEST_LEVEL - LOWEST_LEVEL + 1) - 1)
    return [(steps >> (level - LOWEST_LEVEL)) & 1 for level in LEVELS]


@dataclass
class Topology:
    """Names and declarations of one namespace (see the module docstring)."""

    namespace: str
    durable: bool = True
    max_priority: int = 10
    #: Named queues declared so far (never forgotten: they are listed and
    #: deleted by name).
    declared_queues: set[str] = field(default_factory=set)

    # -- names ------------------------------------------------------------

    @property
    def exchange(self) -> str:
        return self.namespace

    @property
    def due_exchange(self) -> str:
        return f"{self.namespace}.due"

    def work_queue(self, queue: str) -> str:
        return f"{self.namespace}.q.{queue}"

    def failed_queue(self, queue: str) -> str:
        return f"{self.namespace}.failed.{queue}"

    def delay_name(self, level: int) -> str:
        return f"{self.namespace}.delay.{2**level}ms"

    @staticmethod
    def work_key(queue: str) -> str:
        return f"q.{queue}"

    @staticmethod
    def failed_key(queue: str) -> str:
        return f"failed.{queue}"

    def delay_route(self, queue: str, delay: float) -> tuple[str, str]:
        """(exchange, routing key) that delivers to ``queue`` after ``delay`` s."""
        bits = ".".join(map(str, delay_bits(delay)))
        return self.delay_name(HIGHEST_LEVEL), f"{bits}.{queue}"

    def all_queues(self) -> list[str]:
        names = [self.delay_name(level) for level in LEVELS]
        for queue in sorted(self.declared_queues):
            names += [self.work_queue(queue), self.failed_queue(queue)]
        return names

    def all_exchanges(self) -> list[str]:
        return [self.exchange, self.due_exchange] + [self.delay_name(level) for level in LEVELS]

    # -- declarations (pika method name, keyword arguments) ------------------

    def base_declarations(self) -> list[tuple[str, dict[str, Any]]]:
        """The exchanges and the delay ladder, shared by every named queue."""
        durable = self.durable
        ops: list[tuple[str, dict[str, Any]]] = [
            ("exchange_declare", {"exchange": self.exchange, "exchange_type": "direct", "durable": durable}),
            ("exchange_declare", {"exchange": self.due_exchange, "exchange_type": "topic", "durable": durable}),
        ]
        for level in LEVELS:
            ops.append(("exchange_declare", {
                "exchange": self.delay_name(level), "exchange_type": "topic", "durable": durable,
            }))
        for position, level in enumerate(LEVELS):
            name = self.delay_name(level)
            lower = self.delay_name(level - 1) if level > LOWEST_LEVEL else self.due_exchange
            prefix = "*." * position
            ops += [
                ("queue_declare", {
                    "queue": name,
                    "durable": durable,
                    "arguments": {
                        "x-message-ttl": 2**level,
                        "x-dead-letter-exchange": lower,
                    },
                }),
                ("queue_bind", {"queue": name, "exchange": name, "routing_key": f"{prefix}1.#"}),
                ("exchange_bind", {"destination": lower, "source": name, "routing_key": f"{prefix}0.#"}),
            ]
        return ops

    def queue_declarations(self, queue: str) -> list[tuple[str, dict[str, Any]]]:
        """The work and failed queues of one named queue, with their bindings."""
        arguments = {"x-max-priority": self.max_priority} if self.max_priority > 0 else {}
        due_pattern = "*." * len(LEVELS) + queue
        return [
            ("queue_declare", {"queue": self.work_queue(queue), "durable": self.durable, "arguments": arguments}),
            ("queue_bind", {"queue": self.work_queue(queue), "exchange": self.exchange, "routing_key": self.work_key(queue)}),
            ("queue_bind", {"queue": self.work_queue(queue), "exchange": self.due_exchange, "routing_key": due_pattern}),
            ("queue_declare", {"queue": self.failed_queue(queue), "durable": self.durable}),
            ("queue_bind", {"queue": self.failed_queue(queue), "exchange": self.exchange, "routing_key": self.failed_key(queue)}),
        ]
