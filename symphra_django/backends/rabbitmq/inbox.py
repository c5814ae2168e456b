"""What one process holds of a RabbitMQ queue: prefetched deliveries and leases.

The broker pushes up to ``prefetch`` messages per consumer before they are
asked for. They wait in an :class:`Inbox`, ordered as the contract wants (C4:
priority, then due time, then arrival), since the broker alone only knows its
coarser priority and FIFO. A delivery handed out becomes a :class:`Lease`:
the delivery tag stays unacknowledged at the broker (so a dead process's
messages come back by themselves, C6), and the :class:`LeaseTable` expires
leases this process no longer renews. Both are guarded by the backend's lock.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from pika.spec import BasicProperties

from symphra_django.backends.deadlines import Deadlines
from symphra_django.backends.rabbitmq.publisher import CopyFields, copy_fields
from symphra_django.messages import MAX_PRIORITY, MIN_PRIORITY, TaskMessage

_arrivals = itertools.count()
#: Sorts first: a message without our headers (corrupt or foreign) is dealt
#: with (sent to the failed queue) before anything else.
_UNKNOWN_PRIORITY = 10**6


class Held(Protocol):
    """Anything that answers for one broker delivery (a delivery or a lease)."""

    generation: int
    tag: int
    settled: bool


@dataclass
class Delivery:
    key: tuple[int, float, int]
    generation: int
    tag: int
    properties: BasicProperties
    body: bytes
    #: What its headers say (unchecked), read once.
    fields: CopyFields
    #: Acknowledged, leased or passed on: no longer this inbox's to give out.
    settled: bool = False

    @classmethod
    def of(cls, generation: int, tag: int, properties: BasicProperties, body: bytes) -> Delivery:
        # Runs in the I/O thread for every delivery, whoever published it:
        # headers of the wrong type or size only cost the message its place.
        fields = copy_fields(properties.headers)
        priority, due = fields.priority, fields.due
        if (
            # pika reads 64-bit integers as its own int subclass.
            isinstance(priority, int) and isinstance(due, int)
            and not isinstance(priority, bool) and not isinstance(due, bool)
            and MIN_PRIORITY <= priority <= MAX_PRIORITY and abs(due) < 2**62
        ):
            key = (-priority, due / 1e6, next(_arrivals))
        else:
            key = (-_UNKNOWN_PRIORITY, 0.0, next(_arrivals))
        return cls(key, generation, tag, properties, body, fields)

    def __lt__(self, other: Delivery) -> bool:
        return self.key < other.key


@dataclass
class Inbox:
    heap: list[Delivery] = field(default_factory=list)
    consuming: bool = False
    started: float = 0.0
    last_arrival: float = 0.0
    #: Time between the last two arrivals (monotonic seconds).
    last_gap: float = float("inf")
    #: Until then (monotonic) the ledger is not asked whether tasks are due.
    quiet_until: float = 0.0
    #: How many deliveries each claim waiting on this inbox wants. Only an
    #: arrival that fills the smallest wish wakes them: waking every waiter
    #: on every delivery of a burst cost the I/O thread more than the
    #: delivery itself (their waits time out and look again anyway).
    wishes: list[int] = field(default_factory=list)

    def wished(self) -> bool:
        """Whether a waiting claim wants the deliveries now in the inbox."""
        return bool(self.wishes) and len(self.heap) >= min(self.wishes)

    def __len__(self) -> int:
        return len(self.heap)

    def put(self, delivery: Delivery) -> None:
        heapq.heappush(self.heap, delivery)
        now = time.monotonic()
        self.last_gap = now - self.last_arrival
        self.last_arrival = now

    def take(self, count: int) -> list[Delivery]:
        return [heapq.heappop(self.heap) for _ in range(min(count, len(self.heap)))]

    def streaming(self, window: float) -> bool:
        """Whether a burst is arriving: the last two deliveries came within
        ``window`` of each other, and the last one within ``window`` of now.

        A delivery that came alone (steady, light load) is not a burst, so
        it is handed out at once rather than after a wait for company.
        """
        return self.last_gap < window and time.monotonic() - self.last_arrival < window

    def drop_generation(self, generation: int) -> None:
        kept = [d for d in self.heap if d.generation != generation]
        heapq.heapify(kept)
        self.heap = kept


@dataclass
class Lease:
    queue: str
    task_id: str
    body: bytes  # the payload as delivered, read again only if it must be republished
    attempts: int  # deliveries counted, this one included
    token: str  # the lease token the caller must present
    claim: str  # the ledger claim of this delivery's batch
    ledger_token: str  # which published copy this is
    generation: int
    tag: int
    expires: float
    settled: bool = False

    def message(self) -> TaskMessage:
        """The leased message (a fresh copy), with its attempts counted."""
        task = TaskMessage.from_json(self.body)
        task.attempts = self.attempts
        return task


class LeaseTable:
    def __init__(self) -> None:
        self._held: dict[tuple[str, str], Lease] = {}
        self._per_queue: Counter[str] = Counter()
        self._deadlines: Deadlines[tuple[str, str]] = Deadlines()

    def add(self, lease: Lease) -> None:
        key = (lease.queue, lease.task_id)
        if key not in self._held:
            self._per_queue[lease.queue] += 1
        self._held[key] = lease
        self._deadlines.set(key, lease.expires, lease.token)

    def _current(self, task: TaskMessage, now: float) -> Lease | None:
        lease = self._held.get((task.queue, task.id))
        if lease is None or task.lease_token is None or lease.token != task.lease_token:
            return None
        return lease if lease.expires > now else None

    def pop_if_held(self, task: TaskMessage, now: float) -> Lease | None:
        lease = self._current(task, now)
        if lease is not None:
            self._drop((lease.queue, lease.task_id))
        return lease

    def _drop(self, key: tuple[str, str]) -> Lease:
        self._per_queue[key[0]] -= 1
        self._deadlines.discard(key)
        return self._held.pop(key)

    def held(self, queue: str) -> int:
        """Leases held on ``queue``: deliveries still unacknowledged at the broker."""
        return self._per_queue[queue]

    def extend(self, task: TaskMessage, expires: float) -> Lease | None:
        lease = self._current(task, time.time())
        if lease is not None:
            lease.expires = expires
            self._deadlines.set((lease.queue, lease.task_id), expires, lease.token)
        return lease

    def pop_expired(self, now: float) -> list[Lease]:
        return [self._drop(key) for key, _ in self._deadlines.pop_due(now)]

    def pop_queue(self, queue: str) -> list[Lease]:
        keys = [key for key in self._held if key[0] == queue]
        return [self._drop(key) for key in keys]
