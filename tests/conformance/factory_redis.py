"""The Redis backend in the conformance suite: one random key prefix per factory."""

from __future__ import annotations

import time
from typing import Any

from symphra_django.backends import QueueBackend
from symphra_django.backends.redis.keys import KEY_NAMES, order_head, queue_keys
from symphra_django.messages import TaskMessage, delivery_limit

from .factories import BackendFactory

URL = "redis://127.0.0.1:6379/0"


class RedisFactory(BackendFactory):
    services = ("redis",)

    def build(self, **options: object) -> QueueBackend:
        from symphra_django.backends.redis.backend import RedisBackend

        return RedisBackend(alias="conformance", url=URL, key_prefix=self.namespace, **options)

    def _plant(self, backend: QueueBackend, queue: str, task_id: str, payload: bytes, state: str | None) -> None:
        """Write one task's keys with plain redis-py commands, as another
        program would: the payload, its state (``attempts:limit:ordkey``
        unless ``state`` forges it) and its place in the ready index."""
        keys = dict(zip(KEY_NAMES, queue_keys(backend.key_prefix, queue), strict=True))
        client = backend._connected()
        seq = client.incr(keys["seq"])
        ordkey = f"{order_head(0, time.time())}{seq:016d}{task_id}"
        with client.pipeline(transaction=True) as pipe:
            pipe.hset(keys["tasks"], task_id, payload)
            pipe.hset(keys["state"], task_id, state if state is not None else f"0:{delivery_limit(1)}:{ordkey}")
            pipe.zadd(keys["ready"], {ordkey: 0})
            pipe.execute()

    def inject_corrupt(self, backend: QueueBackend, queue: str, raw: bytes) -> bytes:
        self._plant(backend, queue, self.raw_id(), raw, None)
        return raw

    def raw_client(self) -> Any:
        """A plain redis-py client on the test server, as another program would use."""
        import redis

        return redis.Redis.from_url(URL)

    def queue_key(self, queue: str, name: str) -> str:
        """The key ``name`` (``tasks``, ``state``, ``ready``, ...) of ``queue`` in this namespace."""
        from symphra_django.backends.redis.keys import KEY_NAMES, queue_keys

        return queue_keys(self.namespace, queue)[KEY_NAMES.index(name)]

    def write_raw_state(self, queue: str, task_id: str, state: bytes | str | None) -> None:
        """Overwrite the per-task delivery state (``attempts:limit:ordkey``)
        of ``task_id`` with ``state`` as raw bytes, or delete it (None)."""
        client = self.raw_client()
        try:
            if state is None:
                client.hdel(self.queue_key(queue, "state"), task_id)
            else:
                client.hset(self.queue_key(queue, "state"), task_id, state)
        finally:
            client.close()

    def inject_forged(self, backend: QueueBackend, queue: str, task: TaskMessage) -> None:
        # A state value of the wrong shape (a tool that wrote JSON there).
        self._plant(backend, queue, task.id, task.to_json().encode(), '{"attempts": "many"}')

    def teardown(self) -> None:
        if self.made:
            client = self.made[0]._connected()
            keys = list(client.scan_iter(match=f"{{{self.namespace}:*", count=1000))
            if keys:
                client.delete(*keys)
        super().teardown()
