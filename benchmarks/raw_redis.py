"""Raw redis-py baseline: a due-time sorted set, a payload hash and a lease
set, with one Lua script to claim a batch and one to acknowledge it."""

from __future__ import annotations

import time
import uuid
from typing import Any

CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then return {} end
redis.call('ZREM', KEYS[1], unpack(ids))
local out = {}
for i, id in ipairs(ids) do
  redis.call('ZADD', KEYS[3], tonumber(ARGV[3]), id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id)
end
return out
"""
ACK = """
redis.call('ZREM', KEYS[3], unpack(ARGV))
return redis.call('HDEL', KEYS[2], unpack(ARGV))
"""


class RedisDriver:
    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.keys = [f"{{{prefix}}}:ready", f"{{{prefix}}}:tasks", f"{{{prefix}}}:leases"]
        self.client: Any = None

    def connect(self) -> None:
        import redis

        self.client = redis.Redis.from_url(self.url)
        self._claim = self.client.register_script(CLAIM)
        self._ack = self.client.register_script(ACK)

    def close(self) -> None:
        self.client.close()

    def create(self) -> None:
        self.drop()

    def drop(self) -> None:
        self.connect()
        self.client.delete(*self.keys)
        self.close()

    def enqueue_one(self, body: str) -> None:
        task_id = uuid.uuid4().hex
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys[1], task_id, body)
            pipe.zadd(self.keys[0], {task_id: time.time()})
            pipe.execute()

    def enqueue_many(self, bodies: list[str]) -> None:
        now = time.time()
        ids = [uuid.uuid4().hex for _ in bodies]
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys[1], mapping=dict(zip(ids, bodies)))
            pipe.zadd(self.keys[0], {task_id: now for task_id in ids})
            pipe.execute()

    def claim(self, n: int) -> list[tuple[bytes, bytes]]:
        now = time.time()
        flat = self._claim(keys=self.keys, args=[now, n, now + 60])
        return list(zip(flat[0::2], flat[1::2]))

    def ack(self, ids: list[bytes]) -> None:
        self._ack(keys=self.keys, args=ids)
