"""Raw pika baseline: a durable priority queue; publish persistent, mandatory
messages with publisher confirms (one by one) or in transactions of a batch
(bulk); consume with a prefetch and acknowledge each batch with ``multiple``."""

from __future__ import annotations

from typing import Any

PREFETCH = 256


class PikaDriver:
    #: ``claim(1)`` returns as soon as the broker pushes a message.
    pushes = True

    def __init__(self, url: str, queue: str) -> None:
        self.url = url
        self.queue = queue
        self.connection: Any = None
        self.channel: Any = None
        self.bulk_channel: Any = None
        self._consuming: Any = None

    def connect(self) -> None:
        import pika

        self.properties = pika.BasicProperties(delivery_mode=2, content_type="application/json", priority=5)
        self.connection = pika.BlockingConnection(pika.URLParameters(self.url))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()
        self.bulk_channel = self.connection.channel()
        self.bulk_channel.tx_select()
        self.channel.basic_qos(prefetch_count=PREFETCH)

    def close(self) -> None:
        self.connection.close()

    def create(self) -> None:
        self.connect()
        self.channel.queue_delete(self.queue)
        self.channel.queue_declare(self.queue, durable=True, arguments={"x-max-priority": 10})
        self.close()

    def drop(self) -> None:
        self.connect()
        self.channel.queue_delete(self.queue)
        self.close()

    def enqueue_one(self, body: str) -> None:
        self.channel.basic_publish("", self.queue, body, self.properties, mandatory=True)

    def enqueue_many(self, bodies: list[str]) -> None:
        for body in bodies:
            self.bulk_channel.basic_publish("", self.queue, body, self.properties, mandatory=True)
        self.bulk_channel.tx_commit()

    def claim(self, n: int) -> list[tuple[int, bytes]]:
        if self._consuming is None:
            self._consuming = self.channel.consume(self.queue, inactivity_timeout=0.05)
        batch = []
        for method, _properties, body in self._consuming:
            if method is None:
                break
            batch.append((method.delivery_tag, body))
            if len(batch) == n:
                break
        return batch

    def ack(self, tags: list[int]) -> None:
        self.channel.basic_ack(max(tags), multiple=True)
