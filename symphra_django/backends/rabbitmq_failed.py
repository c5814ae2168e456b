"""Reading and editing a failed (dead-letter) queue without losing a message.

The failed store is an ordinary durable queue, so the admin's operations
(list, retry, delete) *browse* it: on a short-lived connection of their own,
fetch every message with ``basic.get`` without acknowledging it, acknowledge
the ones to remove (after republishing them elsewhere with confirms, for a
retry), and close the channel, which returns every other message to the
queue in its place. These are rare admin actions; the worker path never
browses. Two concurrent browsers each see only part of the queue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pika
from pika.spec import BasicProperties

from .rabbitmq_link import Outgoing, PublishFailed

KEEP = "keep"
DROP = "drop"


@dataclass
class Browsed:
    properties: BasicProperties
    body: bytes


#: Decides what happens to one browsed message: KEEP, DROP, or an Outgoing
#: to publish (confirmed) before the message is removed.
Decision = Callable[[Browsed], "str | Outgoing"]


def browse(parameters: pika.URLParameters, broker_queue: str, decide: Decision) -> None:
    connection = pika.BlockingConnection(parameters)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        while True:
            method, properties, body = channel.basic_get(broker_queue, auto_ack=False)
            if method is None:
                break
            verdict = decide(Browsed(properties, body))
            if verdict == KEEP:
                continue
            if isinstance(verdict, Outgoing):
                try:
                    channel.basic_publish(
                        verdict.exchange, verdict.routing_key, verdict.body,
                        verdict.properties, mandatory=True,
                    )
                except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
                    raise PublishFailed(f"could not move a failed task back: {exc!r}") from exc
            channel.basic_ack(method.delivery_tag)
        channel.close()
    finally:
        if connection.is_open:
            connection.close()
