"""The RabbitMQ backend in the conformance suite: one random namespace per factory.

Every exchange and queue of a factory is named after its random
``exchange_name``, and all of them are deleted in teardown; the ledger rows
go with the test's database flush.
"""

from __future__ import annotations

import pika
import pytest

from symphra_django.backends import QueueBackend

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

    def inject_corrupt(self, backend: QueueBackend, queue: str, raw: bytes) -> bytes:
        # Published as a foreign producer would: straight into the work queue.
        backend._ensure_queue(queue)
        with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.basic_publish(
                backend.topology.exchange, backend.topology.work_key(queue), raw, mandatory=True
            )
        return raw

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
