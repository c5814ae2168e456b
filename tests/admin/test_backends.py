"""Every built-in backend on its real server appears in the admin the same way."""

from __future__ import annotations

import time
import uuid

import pytest
from django.test import override_settings
from django.urls import reverse

from symphra_django.backends import backends
from symphra_django.messages import TaskMessage
from tests.support.admin import OPERATIONS_PERMISSIONS, make_user, selection
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
                    {"_selected_action": [selection(alias, "default", f"bad-{alias}")]})
        assert backends[alias].get_status_sync(f"bad-{alias}", "default") == "ready", alias


@pytest.fixture
def operator(client, django_user_model):
    client.force_login(make_user(django_user_model, "operator", perms=OPERATIONS_PERMISSIONS))
    return client


def test_queue_pages_list_tasks_in_the_order_workers_take_them_where_the_broker_can_show_them(
    operator, every_backend
):
    from tests.admin.test_queue_pages import enqueue_a_mix

    for alias in ("default", "db", "redis"):
        expected = enqueue_a_mix(backends[alias], time.time())
        response = operator.get(reverse("admin:symphra_django_queue_tasks", args=[alias, "default"]))
        assert [t.id for t in response.context["tasks"]] == expected, alias
        assert [t.id for t in backends[alias].dequeue_sync(10)] == expected[:3], alias


def test_every_backend_has_a_page_for_one_task(operator, every_backend):
    for alias in ("default", "db", "redis", "rabbit"):
        backend = backends[alias]
        backend.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id=f"bad-{alias}", max_attempts=1))
        [leased] = backend.dequeue_sync(1, queue="default")
        backend.reject_sync(leased, error=f"ValueError: {alias} broke")
        backend.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id=f"wait-{alias}", args=["arg-of-" + alias]))
    for alias in ("default", "db", "redis", "rabbit"):
        failed = operator.get(reverse("admin:symphra_django_queue_task", args=[alias, "default", f"bad-{alias}"]))
        body = failed.content.decode()
        assert failed.status_code == 200, alias
        assert '<td class="state">failed</td>' in body and f"ValueError: {alias} broke" in body, alias
        assert '<td class="attempts">1 of 1 ' in body, alias
        waiting = operator.get(reverse("admin:symphra_django_queue_task", args=[alias, "default", f"wait-{alias}"]))
        body = waiting.content.decode()
        assert waiting.status_code == 200 and '<td class="state">ready</td>' in body, alias
        if alias == "rabbit":
            assert "cannot show it without taking it off the queue" in body
        else:
            assert f"arg-of-{alias}" in body, alias


def test_the_failed_page_filters_searches_and_acts_on_every_backend(operator, every_backend):
    failed_list = reverse("admin:symphra_django_failedtask_changelist")
    for alias in ("db", "redis", "rabbit"):
        backend = backends[alias]
        for task_id, error in ((f"{alias}-v1", "ValueError: disk full"), (f"{alias}-k1", "KeyError: 'user'"),
                               (f"{alias}-v2", "ValueError: timeout")):
            backend.enqueue_sync(TaskMessage(name="tests.sampleapp.tasks.noop", id=task_id, max_attempts=1))
            [leased] = backend.dequeue_sync(1, queue="default")
            backend.reject_sync(leased, error=error)

    def listed(query: str) -> list[str]:
        response = operator.get(failed_list + query)
        return [item["row"].task.id for item in response.context["rows"]]

    for alias in ("db", "redis", "rabbit"):
        mine = f"?alias={alias}&queue=default"
        assert listed(mine) == [f"{alias}-v2", f"{alias}-k1", f"{alias}-v1"], alias
        assert listed(mine + "&error=ValueError") == [f"{alias}-v2", f"{alias}-v1"], alias
        assert listed(mine + "&q=DISK") == [f"{alias}-v1"], alias
        assert listed(mine + "&failed=1h") == [f"{alias}-v2", f"{alias}-k1", f"{alias}-v1"], alias
        assert listed(mine + "&failed=1h&error=KeyError") == [f"{alias}-k1"], alias
    assert len(listed("?error=ValueError")) == 6
    operator.post(failed_list + "?error=KeyError", {"action": "retry", "select_across": "1"})
    for alias in ("db", "redis", "rabbit"):
        assert backends[alias].get_status_sync(f"{alias}-k1", "default") == "ready", alias
        assert backends[alias].get_status_sync(f"{alias}-v1", "default") == "failed", alias
