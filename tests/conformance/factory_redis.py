"""The Redis backend in the conformance suite: one random key prefix per factory."""

from __future__ import annotations

from typing import Any

from symphra_django.backends import QueueBackend

from .factories import BackendFactory

URL = "redis://127.0.0.1:6379/0"


class RedisFactory(BackendFactory):
    services = ("redis",)

    def build(self, **options: object) -> QueueBackend:
        from symphra_django.backends.redis.backend import RedisBackend

        return RedisBackend(alias="conformance", url=URL, key_prefix=self.namespace, **options)

    def inject_corrupt(self, backend: QueueBackend, queue: str, raw: bytes) -> bytes:
        from symphra_django.backends.redis.keys import order_head

        # Filed by the backend's own enqueue script, as a task with a
        # payload nobody can read.
        backend._script("enqueue", queue, ["new", "corrupt-1", raw, 0, 0, order_head(0, 0.0), "0"])
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

    def teardown(self) -> None:
        if self.made:
            client = self.made[0]._connected()
            keys = list(client.scan_iter(match=f"{{{self.namespace}:*", count=1000))
            if keys:
                client.delete(*keys)
        super().teardown()
