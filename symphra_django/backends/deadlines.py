"""Lease deadlines kept in process memory, earliest first.

The memory backend and the RabbitMQ backend (for the leases its process
hands out) expire leases themselves. Most leases are answered long before
their deadline; a plain heap would keep an entry for every task run within
one lease period (at 5,000 tasks/s and 60 s leases, 300,000 entries: tens of
MB). Entries here are dropped lazily and the heap is rebuilt from the live
ones whenever stale entries outnumber them, so its size follows the leases
actually held.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

#: Below this many entries the heap is never rebuilt.
_SMALL = 64


class Deadlines(Generic[K]):
    """Which keys are due by when; a key has one live (deadline, token)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K, str]] = []
        self._live: dict[K, tuple[float, str]] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def set(self, key: K, deadline: float, token: str) -> None:
        """Give ``key`` this deadline (a new lease, or an extended one)."""
        self._live[key] = (deadline, token)
        heapq.heappush(self._heap, (deadline, next(self._seq), key, token))
        self._compact()

    def discard(self, key: K) -> None:
        """``key`` is answered: it will not be due."""
        if self._live.pop(key, None) is not None:
            self._compact()

    def pop_due(self, now: float) -> list[tuple[K, str]]:
        """(key, token) of every live deadline at or before ``now``, removed."""
        due = []
        while self._heap and self._heap[0][0] <= now:
            deadline, _, key, token = heapq.heappop(self._heap)
            if self._live.get(key) == (deadline, token):
                del self._live[key]
                due.append((key, token))
        return due

    def _compact(self) -> None:
        if len(self._heap) > _SMALL and len(self._heap) > 2 * len(self._live):
            self._heap = [(deadline, next(self._seq), key, token)
                          for key, (deadline, token) in self._live.items()]
            heapq.heapify(self._heap)

    def heap_size(self) -> int:
        """Entries kept, stale ones included (what the memory use follows)."""
        return len(self._heap)
