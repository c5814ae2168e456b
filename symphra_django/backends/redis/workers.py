"""The worker registry in Redis: three keys under the hash tag
``{prefix:~workers}`` (``~`` cannot start a queue name, so no queue's keys
collide; one hash tag, so the registry also works on Redis Cluster):

=============================  ======  ==========================================
``{p:~workers}:records``       hash    worker id → its JSON record
``{p:~workers}:expires``       zset    worker id, score = when its record expires
``{p:~workers}:stop``          hash    worker id → "1": asked to stop
=============================  ======  ==========================================

Each heartbeat is one script call (:data:`SAVE_SCRIPT`); the three keys
expire when the last live record does, so a namespace whose workers are all
gone holds no registry keys at all. A
record longer than :data:`~symphra_django.backends.workers.RECORD_LIMIT` is
not fetched: its length is reported instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from symphra_django.backends.workers import RECORD_LIMIT, StoredWorker

T = TypeVar("T")

#: Expired records one heartbeat drops (the next ones drop the rest).
EXPIRED_PER_WRITE = 100

#: One heartbeat, atomically: store the record and its expiry, read (or, for
#: a fresh registration, clear) the stop flag, drop a bounded number of
#: expired records, and keep the keys until the last live record expires
#: (never shortening it for a worker saved with a shorter ttl).
#: KEYS: records, expires, stop. ARGV: id, record, now, ttl, fresh, limit.
SAVE_SCRIPT = """
local id, now = ARGV[1], tonumber(ARGV[3])
redis.call('HSET', KEYS[1], id, ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), id)
local stop = 0
if ARGV[5] == '1' then
  redis.call('HDEL', KEYS[3], id)
else
  stop = redis.call('HEXISTS', KEYS[3], id)
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[6]))
for _, member in ipairs(expired) do
  redis.call('HDEL', KEYS[1], member)
  redis.call('HDEL', KEYS[3], member)
  redis.call('ZREM', KEYS[2], member)
end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
local at = math.ceil(tonumber(last[2]))
for i = 1, 3 do
  redis.call('EXPIREAT', KEYS[i], at)
end
return stop
"""


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
        keys = worker_keys(self.key_prefix)
        args = [worker_id, record, repr(time.time()), repr(float(ttl)), "1" if fresh else "0", EXPIRED_PER_WRITE]
        return bool(self._call(lambda client: client.eval(SAVE_SCRIPT, len(keys), *keys, *args)))

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
