"""The RabbitMQ backend's failed store: a dead-letter queue per named queue.

The admin's operations (find, retry, delete) *browse* the failed queue: on a
short-lived connection of their own, fetch every message with ``basic.get``
without acknowledging it, acknowledge the ones to remove (after republishing
them, confirmed, for a retry), and close the channel, which returns every
other message to the queue in its place. The ledger says which failed copy
of a task is current; stale ones (the id was enqueued again since, or its
row is gone) are removed while browsing. A copy whose row still holds its
token but does not say FAILED yet belongs to a task being failed at that
moment (the copy is published first, so a crash in between loses nothing)
and stays, unlisted, until the row catches up. These are rare operator actions; workers never
browse. Two operators browsing one failed queue at once each see part of it.

Each operation reads the whole failed queue once (one ``basic.get`` per
message), whatever it filters or how few tasks it shows: its cost grows with
the number of failed tasks, while its memory holds only the page it returns.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import pika

from symphra_django.backends.failed_store import FailedPage
from symphra_django.backends.rabbitmq.ledger import Ledger
from symphra_django.backends.rabbitmq.link import Outgoing, PublishFailed
from symphra_django.backends.rabbitmq.publisher import Publisher, copy_fields
from symphra_django.exceptions import CorruptPayload
from symphra_django.messages import TaskMessage

KEEP = "keep"
DROP = "drop"

#: What happens to one browsed failed task (the current copy): KEEP, DROP,
#: or an Outgoing to publish (confirmed) before it is removed.
Decision = Callable[[TaskMessage, str], "str | Outgoing"]
#: Which failed tasks an operation is about.
Wanted = Callable[[TaskMessage], bool]


class FailedStore:
    def __init__(
        self,
        parameters: pika.URLParameters,
        *,
        ledger: Ledger,
        publisher: Publisher,
        ensure_queue: Callable[[str], None],
    ) -> None:
        self._parameters = parameters
        self._ledger = ledger
        self._publisher = publisher
        self._ensure_queue = ensure_queue

    def find(self, queue: str, wanted: Wanted, limit: int, offset: int) -> FailedPage:
        """The ``wanted`` failed tasks, newest first, and how many there are.

        One browse of the whole failed queue, oldest first, holding only the
        newest ``offset + limit`` matches in memory.
        """
        newest: deque[TaskMessage] = deque(maxlen=max(0, offset + limit))
        page = FailedPage()

        def keep(task: TaskMessage, _token: str) -> str:
            if wanted(task):
                newest.append(task)
                page.total += 1
            return KEEP

        self._browse(queue, keep)
        newest.reverse()
        page.tasks = list(newest)[offset : offset + limit]
        return page

    def retry(self, queue: str, wanted: Wanted) -> int:
        moved = 0

        def retry(task: TaskMessage, token: str) -> str | Outgoing:
            nonlocal moved
            if not wanted(task):
                return KEEP
            task.scheduled_time = time.time()
            task.attempts = 0
            task.meta.pop("failed_at", None)
            # The row says "queued" before the copy exists, so it can be
            # claimed the moment it arrives.
            if not self._ledger.requeue_failed(queue, task.id, token, task.scheduled_time):
                return KEEP
            moved += 1
            return self._publisher.message(task, token)

        self._browse(queue, retry)
        return moved

    def delete(self, queue: str, wanted: Wanted) -> int:
        deleted = 0

        def delete(task: TaskMessage, token: str) -> str:
            nonlocal deleted
            if wanted(task) and self._ledger.delete_failed(queue, task.id, token):
                deleted += 1
                return DROP
            return KEEP

        self._browse(queue, delete)
        return deleted

    def _browse(self, queue: str, decide: Decision) -> None:
        self._ensure_queue(queue)
        tokens = self._ledger.failed_tokens(queue)
        connection = pika.BlockingConnection(self._parameters)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            while True:
                method, properties, body = channel.basic_get(self._publisher.topology.failed_queue(queue))
                if method is None:
                    break
                token = copy_fields(properties.headers).token
                try:
                    task: TaskMessage | None = TaskMessage.from_json(body)
                except CorruptPayload:
                    # Not a message of ours (stand-ins for unreadable ones are
                    # valid messages): nothing to list or retry.
                    task = None
                if task is None:
                    verdict: str | Outgoing = DROP
                elif tokens.get(task.id) != token:
                    # Not the failed copy the ledger knows: a stale one (the
                    # id was enqueued again, or is gone), unless the task is
                    # being failed right now — its failed copy is published
                    # before its row says FAILED, and must not be lost.
                    pending = token is not None and self._ledger.holds_unfailed_copy(queue, task.id, token)
                    verdict = KEEP if pending else DROP
                elif token is None:
                    # No token header and no failed row: no ledger row can
                    # match it, so whatever ``decide`` wants, the copy stays.
                    verdict = KEEP
                else:
                    verdict = decide(task, token)
                if verdict == KEEP:
                    continue
                if isinstance(verdict, Outgoing):
                    try:
                        channel.basic_publish(
                            verdict.exchange, verdict.routing_key, verdict.body, verdict.properties, mandatory=True
                        )
                    except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
                        raise PublishFailed(f"could not move a failed task back: {exc!r}") from exc
                channel.basic_ack(method.delivery_tag)
            channel.close()
        finally:
            if connection.is_open:
                connection.close()
