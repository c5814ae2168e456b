"""The Redis backend in the conformance suite: one random key prefix per factory."""

from __future__ import annotations

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

    def teardown(self) -> None:
        if self.made:
            client = self.made[0]._connected()
            keys = list(client.scan_iter(match=f"{{{self.namespace}:*", count=1000))
            if keys:
                client.delete(*keys)
        super().teardown()
