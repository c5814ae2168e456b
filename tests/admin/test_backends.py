"""Every built-in backend on its real server appears in the admin the same way."""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings
from django.urls import reverse

from symphra_django.backends import backends
from symphra_django.messages import TaskMessage
from tests.support.admin import OPERATIONS_PERMISSIONS, make_user
from tests.support.services import require

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def every_backend():
    require("redis")
    require("rabbitmq")
    namespace = "adm" + uuid.uuid4().hex[:8]
    config = {
        "BACKENDS": {
            "default": {"BACKEND": "memory"},
            "db": {"BACKEND": "database"},
            "redis": {"BACKEND": "redis", "OPTIONS": {"url": "redis://127.0.0.1:6379/0", "key_prefix": namespace}},
            "rabbit": {"BACKEND": "rabbitmq", "OPTIONS": {
                "url": "amqp://guest:guest@127.0.0.1:5672/%2F", "exchange_name": namespace}},
        },
        "QUEUES": ["default"],
    }
    with override_settings(SYMPHRA=config):
        yield config
        _cleanup(namespace)
        backends.close_all()


def _cleanup(namespace: str) -> None:
    redis = backends["redis"]._connected()
    keys = list(redis.scan_iter(match=f"{{{namespace}:*", count=1000))
    if keys:
        redis.delete(*keys)
    topology = backends["rabbit"].topology
    from tests.conformance.factory_rabbitmq import delete_names

    queues, exchanges = set(topology.all_queues()), set(topology.all_exchanges())
    backends["rabbit"].disconnect_sync()
    delete_names(queues, exchanges)


def test_every_backend_shows_its_counts_health_and_masked_url(client, django_user_model, every_backend):
    for alias in ("default", "db", "redis", "rabbit"):
        backends[alias].enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id=f"{alias}-1"))
    client.force_login(make_user(django_user_model, "operator", perms=OPERATIONS_PERMISSIONS))
    response = client.get(reverse("admin:symphra_django_queue_changelist"))
    statuses = {b.alias: b for b in response.context["backends"]}
    assert set(statuses) == {"default", "db", "redis", "rabbit"}
    for alias, status in statuses.items():
        assert status.healthy, alias
        [default] = [q for q in status.queues if q.queue == "default"]
        assert default.stats.ready == 1, alias
    body = response.content.decode()
    assert "guest:guest" not in body and "guest:***@" in body


def test_peek_works_where_the_broker_allows_it_and_is_honest_where_not(client, django_user_model, every_backend):
    client.force_login(make_user(django_user_model, "operator", perms=OPERATIONS_PERMISSIONS))
    for alias in ("db", "redis", "rabbit"):
        backends[alias].enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id=f"peek-{alias}"))
    for alias in ("db", "redis"):
        body = client.get(reverse("admin:symphra_django_queue_tasks", args=[alias, "default"])).content.decode()
        assert f"peek-{alias}" in body
    body = client.get(reverse("admin:symphra_django_queue_tasks", args=["rabbit", "default"])).content.decode()
    assert "cannot show queued messages without taking them" in body


def test_failed_tasks_of_every_backend_can_be_retried(client, django_user_model, every_backend):
    client.force_login(make_user(django_user_model, "operator", perms=OPERATIONS_PERMISSIONS))
    for alias in ("db", "redis", "rabbit"):
        backend = backends[alias]
        backend.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id=f"bad-{alias}"))
        [leased] = backend.dequeue_sync(1, queue="default")
        backend.reject_sync(leased, requeue=False, error=f"{alias} broke")
    body = client.get(reverse("admin:symphra_django_failedtask_changelist")).content.decode()
    for alias in ("db", "redis", "rabbit"):
        assert f"{alias} broke" in body
        client.post(reverse("admin:symphra_django_failedtask_retry"),
                    {"alias": alias, "queue": "default", "task_id": [f"bad-{alias}"]})
        assert backends[alias].get_status_sync(f"bad-{alias}", "default") == "ready", alias
