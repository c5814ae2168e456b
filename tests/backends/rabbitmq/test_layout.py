"""The headers a copy carries: one ``x-symphra`` string now, five headers in
earlier versions. A stored message may be from an old version, so both
layouts are read."""

from __future__ import annotations

import uuid

import pytest

from symphra_django.messages import TaskMessage

from tests.backends.rabbitmq.test_hostile import publish_raw
from tests.support.rabbitmq import rabbit  # noqa: F401 - fixture
from tests.support.waiting import wait_until

pytest.importorskip("pika")


def test_a_copy_carries_its_fields_in_one_header():
    from symphra_django.backends.rabbitmq.publisher import COPY, copy_fields

    backend = _publisher()
    properties = backend.properties(TaskMessage(name="t", id="a:b", priority=-3, scheduled_time=12.5), "f" * 32)
    assert list(properties.headers) == [COPY]
    fields = copy_fields(properties.headers)
    assert (fields.token, fields.task_id, fields.due, fields.priority) == ("f" * 32, "a:b", 12_500_000, -3)
    assert backend.published_here(fields) and backend.published_here(properties.headers)


def test_the_earlier_five_header_layout_is_read_too():
    from symphra_django.backends.rabbitmq.publisher import copy_fields

    publisher = _publisher()
    token = uuid.uuid4().hex
    fields = copy_fields(_old_headers(publisher, token, "old", due=5, priority=2))
    assert (fields.token, fields.task_id, fields.due, fields.priority) == (token, "old", 5, 2)
    assert publisher.published_here(fields)


@pytest.mark.parametrize("packed", [
    "1:tok:12:0:sig",  # a field short
    "2:tok:12:0:sig:id",  # a version this code does not know
    "1:tok:1 2:0:sig:id", "1:tok:12:٣:sig:id", "1:tok:1_2:0:sig:id", "1:tok:" + "9" * 30 + ":0:sig:id",
])
def test_a_malformed_one_string_header_says_nothing_it_cannot_prove(packed):
    from symphra_django.backends.rabbitmq.publisher import copy_fields

    fields = copy_fields({"x-symphra": packed})
    assert fields.due is None or fields.priority is None or fields.token is None
    assert not _publisher().published_here(fields)


def test_a_message_published_in_the_earlier_layout_is_claimed_and_acknowledged(rabbit):
    from symphra_django.backends.rabbitmq.ledger import Entry

    backend = rabbit.make()
    task = TaskMessage(name="t", id="from-an-old-version", priority=4)
    token = uuid.uuid4().hex
    backend._ensure_queue("default")
    assert backend.ledger.add("default", [Entry(task.id, token, task.scheduled_time)])
    headers = _old_headers(backend.publisher, token, task.id, due=round(task.scheduled_time * 1e6),
                           priority=task.priority)
    publish_raw(backend, task.to_json().encode(), headers=headers, priority=5)

    [claimed] = wait_until(lambda: backend.dequeue_sync(5, lease_seconds=30), timeout=10,
                           message="the old-layout copy to be claimed")
    assert (claimed.id, claimed.attempts, claimed.priority) == (task.id, 1, 4)
    assert backend.acknowledge_sync(claimed) is True
    stats = backend.get_stats_sync()
    assert (stats.ready, stats.in_flight, stats.failed) == (0, 0, 0)


def _publisher():
    from symphra_django.backends.rabbitmq.backend import RabbitMQBackend

    return RabbitMQBackend(exchange_name="layout").publisher


def _old_headers(publisher, token: str, task_id: str, *, due: int, priority: int) -> dict:
    signature = publisher._sign(publisher._signing_keys()[0], token, task_id)
    return {
        "x-symphra-token": token, "x-symphra-id": task_id, "x-symphra-due": due,
        "x-symphra-priority": priority, "x-symphra-sig": signature,
    }


