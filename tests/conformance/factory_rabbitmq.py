"""The RabbitMQ backend in the conformance suite: one random namespace per factory.

Every exchange and queue of a factory is named after its random
``exchange_name``, and all of them are deleted in teardown; the ledger rows
go with the test's database flush.
"""

from __future__ import annotations

import pika
import pytest

from symphra_django.backends import QueueBackend
from symphra_django.messages import TaskMessage

from .factories import BackendFactory

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


class RabbitMQFactory(BackendFactory):
    services = ("rabbitmq",)
    databases = {"default"}

    def prepare(self, request: pytest.FixtureRequest) -> None:
        # The ledger lives in the default database (flushed after each test).
        request.applymarker(pytest.mark.django_db(transaction=True))

    def build(self, **options: object) -> QueueBackend:
        from symphra_django.backends.rabbitmq.backend import RabbitMQBackend

        return RabbitMQBackend(alias="conformance", url=URL, exchange_name=self.namespace, **options)

    def _publish(self, backend: QueueBackend, queue: str, body: bytes, headers: dict | None) -> None:
        """Publish with plain pika as a foreign producer would: straight into
        the work queue, confirmed."""
        backend._ensure_queue(queue)
        with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.basic_publish(
                backend.topology.exchange, backend.topology.work_key(queue), body,
                pika.BasicProperties(headers=headers), mandatory=True,
            )

    def inject_corrupt(self, backend: QueueBackend, queue: str, raw: bytes) -> bytes:
        self._publish(backend, queue, raw, None)
        return raw

    def inject_forged(self, backend: QueueBackend, queue: str, task: TaskMessage) -> None:
        # symphra's own headers, forged: a ledger token no row has.
        headers = {
            "x-symphra-token": "forged", "x-symphra-id": task.id,
            "x-symphra-due": round(task.scheduled_time * 1e6), "x-symphra-priority": task.priority,
        }
        self._publish(backend, queue, task.to_json().encode(), headers)

    def teardown(self) -> None:
        topologies = [backend.topology for backend in self.made]
        queues = {name for t in topologies for name in t.all_queues()}
        exchanges = {name for t in topologies for name in t.all_exchanges()}
        super().teardown()
        if queues or exchanges:
            delete_names(queues, exchanges)


def delete_names(queues: set[str], exchanges: set[str]) -> None:
    with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
        channel = connection.channel()
        for name in sorted(queues):
            channel.queue_delete(name)
        for name in sorted(exchanges):
            channel.exchange_delete(name)
