"""The worker registry in Redis: three keys under the hash tag
``{prefix:~workers}`` (``~`` cannot start a queue name, so no queue's keys
collide; one hash tag, so the registry also works on Redis Cluster):

=============================  ======  ==========================================
``{p:~workers}:records``       hash    worker id → its JSON record
``{p:~workers}:expires``       zset    worker id, score = when its record expires
``{p:~workers}:stop``          hash    worker id → "1": asked to stop
=============================  ======  ==========================================

Each heartbeat is one pipeline (and a second one when it finds expired
records to drop); the three keys expire with the last heartbeat's ``ttl``, so
a namespace whose workers are all gone holds no registry keys at all. A
record longer than :data:`~symphra_django.backends.workers.RECORD_LIMIT` is
not fetched: its length is reported instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from symphra_django.backends.workers import RECORD_LIMIT, StoredWorker

T = TypeVar("T")

#: Expired records one heartbeat drops (the next ones drop the rest).
EXPIRED_PER_WRITE = 100


def worker_keys(prefix: str) -> tuple[str, str, str]:
    """The registry's keys: records, expires, stop."""
    tag = f"{{{prefix}:~workers}}"
    return f"{tag}:records", f"{tag}:expires", f"{tag}:stop"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class RedisWorkerRegistry:
    """The ``save_worker`` … ``request_worker_stop`` operations of the contract."""

    key_prefix: str
    _call: Callable[[Callable[[Any], Any]], Any]

    def save_worker_sync(self, worker_id: str, record: str, ttl: float, *, fresh: bool = False) -> bool:
        records, expires, stop = worker_keys(self.key_prefix)
        now = time.time()
        seconds = max(1, math.ceil(ttl))

        def write(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            pipe.hset(records, worker_id, record)
            pipe.zadd(expires, {worker_id: now + ttl})
            if fresh:
                pipe.hdel(stop, worker_id)
            else:
                pipe.hexists(stop, worker_id)
            pipe.zrangebyscore(expires, "-inf", now, start=0, num=EXPIRED_PER_WRITE)
            for key in (records, expires, stop):
                pipe.expire(key, seconds)
            return pipe.execute()

        replies = self._call(write)
        stopped = not fresh and bool(replies[2])
        expired = [member for member in replies[3] if _text(member) != worker_id]
        if expired:

            def drop(client: Any) -> None:
                pipe = client.pipeline(transaction=False)
                pipe.hdel(records, *expired)
                pipe.hdel(stop, *expired)
                pipe.zrem(expires, *expired)
                pipe.execute()

            self._call(drop)
        return stopped

    def load_workers_sync(self, limit: int = 500) -> list[StoredWorker]:
        records, expires, stop = worker_keys(self.key_prefix)
        now = time.time()

        def members(client: Any) -> list[bytes]:
            return client.zrevrangebyscore(expires, "+inf", now, start=0, num=limit)

        ids = self._call(members)
        if not ids:
            return []

        def read(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for worker_id in ids:
                pipe.hstrlen(records, worker_id)
            pipe.hmget(stop, ids)
            return pipe.execute()

        *lengths, stops = self._call(read)
        wanted = [worker_id for worker_id, length in zip(ids, lengths, strict=False) if 0 < int(length) <= RECORD_LIMIT]
        values = dict(zip(wanted, self._call(lambda client: client.hmget(records, wanted)), strict=False)) if wanted else {}
        listed = []
        for worker_id, length, stopped in zip(ids, lengths, stops, strict=False):
            if not int(length):
                continue  # expired meanwhile, or never written
            value = values.get(worker_id)
            listed.append(StoredWorker(_text(worker_id), value if value is not None else int(length), bool(stopped)))
        return listed

    def delete_worker_sync(self, worker_id: str) -> bool:
        records, expires, stop = worker_keys(self.key_prefix)

        def delete(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            pipe.hdel(records, worker_id)
            pipe.zrem(expires, worker_id)
            pipe.hdel(stop, worker_id)
            return pipe.execute()

        return bool(self._call(delete)[0])

    def request_worker_stop_sync(self, worker_id: str) -> bool:
        _records, expires, stop = worker_keys(self.key_prefix)
        score = self._call(lambda client: client.zscore(expires, worker_id))
        if score is None or float(score) <= time.time():
            return False
        self._call(lambda client: client.hset(stop, worker_id, "1"))
        return True
