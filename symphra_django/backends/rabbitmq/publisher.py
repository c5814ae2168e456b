"""How the RabbitMQ backend turns a task into a routed, confirmed message.

A message's body is the task as JSON and nothing else; a few headers let a
consumer order and check it without parsing the body: the ledger ``token``
of this copy, the task id, its due time and its priority. A task due later
is routed into the delay ladder (``rabbitmq_topology``), one due now straight
to its work queue, a failed one to its failed queue.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pika.spec import BasicProperties

from symphra_django.backends.rabbitmq.link import BrokerLink, ConnectionLost, Outgoing
from symphra_django.backends.rabbitmq.topology import Topology, broker_priority
from symphra_django.exceptions import BackendUnavailable
from symphra_django.messages import TaskMessage

TOKEN = "x-symphra-token"
TASK_ID = "x-symphra-id"
DUE = "x-symphra-due"  # microseconds: pika's AMQP tables carry no floats
PRIORITY = "x-symphra-priority"

#: Publishing retries after the connection dropped mid-publish (the ledger
#: drops the duplicate copy a retry may make).
PUBLISH_ATTEMPTS = 3


class Publisher:
    def __init__(self, topology: Topology, *, durable: bool, link: Callable[[], BrokerLink], label: str) -> None:
        self.topology = topology
        self.durable = durable
        self._link = link
        self._label = label

    def properties(self, task: TaskMessage, token: str) -> BasicProperties:
        return BasicProperties(
            delivery_mode=2 if self.durable else 1,
            content_type="application/json",
            priority=broker_priority(task.priority, self.topology.max_priority),
            headers={TOKEN: token, TASK_ID: task.id, DUE: round(task.scheduled_time * 1e6), PRIORITY: task.priority},
        )

    def message(self, task: TaskMessage, token: str, *, failed: bool = False) -> Outgoing:
        """The message of ``task``: to its failed queue, or due at its time."""
        body = task.to_json().encode()
        return self.route(task.queue, body, self.properties(task, token), task.scheduled_time, failed=failed)

    def copy(self, queue: str, body: bytes, properties: BasicProperties, due: float) -> Outgoing:
        """The same message again (same token), delivered at ``due``."""
        again = BasicProperties(
            delivery_mode=2 if self.durable else 1,
            content_type="application/json",
            priority=properties.priority,
            headers=dict(properties.headers or {}),
        )
        return self.route(queue, body, again, due)

    def route(self, queue: str, body: bytes, properties: BasicProperties, due: float, *, failed: bool = False) -> Outgoing:
        topology = self.topology
        if failed:
            return Outgoing(topology.exchange, topology.failed_key(queue), body, properties)
        delay = due - time.time()
        if delay > 0:
            exchange, key = topology.delay_route(queue, delay)
            return Outgoing(exchange, key, body, properties)
        return Outgoing(topology.exchange, topology.work_key(queue), body, properties)

    def publish(self, messages: list[Outgoing]) -> None:
        """Publish and wait for the broker's confirms, across a reconnection."""
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                self._link().publish(messages)
                return
            except ConnectionLost:
                if attempt == PUBLISH_ATTEMPTS:
                    raise BackendUnavailable(
                        f"RabbitMQ at {self._label} dropped the connection {attempt} times while publishing"
                    ) from None
