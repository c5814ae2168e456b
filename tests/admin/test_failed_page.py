"""The failed tasks page: a Django change list over every backend's failed store.

Filters (backend, queue, task, exception, failed at), search (id, name,
error), pages past any cap, actions on the ticked tasks or on every task the
filters match, and no dead controls for users who may only look.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.test import override_settings
from django.urls import reverse

from symphra_django.admin import failed as failed_admin
from symphra_django.backends import MemoryBackend, backends
from symphra_django.messages import TaskMessage
from tests.support.admin import OPERATIONS_PERMISSIONS, make_user, selection

pytestmark = pytest.mark.django_db

LIST = reverse("admin:symphra_django_failedtask_changelist")
REPORT, MAIL = "tests.sampleapp.tasks.remember", "tests.sampleapp.tasks.send_email"


@pytest.fixture
def operator(client, django_user_model, memory):
    client.force_login(make_user(django_user_model, "operator", perms=OPERATIONS_PERMISSIONS))
    return client


@pytest.fixture
def page_clock(monkeypatch, clock):
    """The failed page reads "now" from the memory backend's clock."""
    monkeypatch.setattr(failed_admin, "clock", clock)
    return clock


def fail(backend, task_id, error="ValueError: bad input", *, name=REPORT, queue="default", args=()):
    backend.enqueue_sync(TaskMessage(name=name, id=task_id, queue=queue, args=list(args), max_attempts=1))
    [leased] = backend.dequeue_sync(1, queue=queue)
    assert leased.id == task_id
    backend.reject_sync(leased, error=error, traceback="Traceback (most recent call last):\n  boom")


def listed(response) -> list[str]:
    """Ids of the failed tasks on a page, in their order."""
    return [item["row"].task.id for item in response.context["rows"]]


def choices(response, title: str) -> dict[str, bool]:
    """A sidebar filter's choices: label -> selected."""
    [spec] = [s for s in response.context["sidebar"] if s["title"] == title]
    return {c["display"]: c["selected"] for c in spec["choices"]}


# -- what the list shows ----------------------------------------------------------------------


def test_every_queues_failed_tasks_are_one_list_newest_first(operator, memory, clock):
    fail(memory, "first")
    clock.advance(1)
    fail(memory, "second", queue="emails", name=MAIL)
    clock.advance(1)
    fail(memory, "third")
    response = operator.get(LIST)
    assert listed(response) == ["third", "second", "first"]
    body = response.content.decode()
    assert "3 failed tasks" in body
    assert 'id="result_list"' in body and 'id="changelist-filter"' in body and 'id="searchbar"' in body


def test_each_row_shows_when_it_failed_its_attempts_error_kind_and_traceback(operator, memory):
    fail(memory, "shown", error="ValueError: the input was bad")
    [task] = memory.list_failed_sync()
    body = operator.get(LIST).content.decode()
    failed_at = datetime.fromtimestamp(task.failed_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert failed_at in body
    assert '<td class="field-attempts symphra-attempts">1 of 1</td>' in body
    assert "ValueError: the input was bad" in body
    assert re.search(r'class="symphra-kind"[^>]*>ValueError</a>', body)
    assert "Traceback (most recent call last)" in body


def test_the_sidebar_offers_backends_queues_tasks_exceptions_and_periods(operator, memory):
    fail(memory, "a", queue="emails", name=MAIL, error="KeyError: 'user'")
    response = operator.get(LIST)
    assert choices(response, "backend") == {"All": True, "default": False}
    assert choices(response, "queue") == {"All": True, "emails": False}
    assert {MAIL, REPORT} <= set(choices(response, "task"))
    assert {"KeyError", "lease expired", "corrupt payload", "unknown task"} <= set(choices(response, "exception"))
    assert list(choices(response, "failed at")) == ["Any time", "Last hour", "Last 24 hours", "Last 7 days",
                                                    "Last 30 days"]


# -- filters and search ---------------------------------------------------------------------


def test_filter_by_queue_and_by_backend(operator, memory):
    fail(memory, "report-1")
    fail(memory, "mail-1", queue="emails", name=MAIL)
    response = operator.get(LIST + "?alias=default&queue=emails")
    assert listed(response) == ["mail-1"]
    assert choices(response, "queue") == {"All": False, "default": False, "emails": True}
    assert '1 result (<a href="?">2 total</a>)' in response.content.decode()
    assert listed(operator.get(LIST + "?alias=nope")) == []


def test_filter_by_task_name(operator, memory):
    fail(memory, "report-1")
    fail(memory, "mail-1", name=MAIL)
    fail(memory, "report-2")
    assert listed(operator.get(LIST + f"?task={REPORT}")) == ["report-2", "report-1"]


def test_filter_by_exception_class_or_kind_of_failure(operator, memory):
    fail(memory, "value", error="ValueError: bad")
    fail(memory, "key", error="KeyError: 'x'")
    fail(memory, "valueish", error="ValueErrorish: not the same class")
    memory.enqueue_sync(TaskMessage(name=REPORT, id="poison", max_attempts=1))
    for _ in range(3):  # one run and two crash redeliveries, every lease lost
        memory.dequeue_sync(1, lease_seconds=0.001)
        memory._clock.advance(1)
    assert memory.get_status_sync("poison") == "failed"
    assert listed(operator.get(LIST + "?error=ValueError")) == ["value"]
    assert listed(operator.get(LIST + "?error=KeyError")) == ["key"]
    assert listed(operator.get(LIST + "?error=lease+expired")) == ["poison"]


def test_filter_by_failed_at_period(operator, memory, page_clock):
    fail(memory, "two-days-ago")
    page_clock.advance(86400)
    fail(memory, "yesterday")
    page_clock.advance(86400 - 1800)
    fail(memory, "half-an-hour-ago")
    page_clock.advance(1800)
    assert listed(operator.get(LIST + "?failed=1h")) == ["half-an-hour-ago"]
    assert listed(operator.get(LIST + "?failed=24h")) == ["half-an-hour-ago"]
    assert listed(operator.get(LIST + "?failed=7d")) == ["half-an-hour-ago", "yesterday", "two-days-ago"]
    assert listed(operator.get(LIST + "?failed=forever")) == ["half-an-hour-ago", "yesterday", "two-days-ago"]


def test_filter_by_failed_at_date_range_days_included(operator, memory, page_clock):
    fail(memory, "day-1")
    page_clock.advance(3 * 86400)
    fail(memory, "day-4")
    day = {t.id: datetime.fromtimestamp(t.failed_at, UTC).date().isoformat() for t in memory.list_failed_sync()}
    assert listed(operator.get(LIST + f"?failed_from={day['day-4']}")) == ["day-4"]
    assert listed(operator.get(LIST + f"?failed_to={day['day-1']}")) == ["day-1"]
    both = f"?failed_from={day['day-1']}&failed_to={day['day-4']}"
    assert listed(operator.get(LIST + both)) == ["day-4", "day-1"]
    assert listed(operator.get(LIST + "?failed_from=not-a-date")) == ["day-4", "day-1"]


def test_search_finds_ids_and_error_text_ignoring_case(operator, memory):
    fail(memory, "invoice-2024-17", error="ValueError: amount missing")
    fail(memory, "mail-99", name=MAIL, error="SMTPException: Connection refused by mx.example.com")
    assert listed(operator.get(LIST + "?q=INVOICE-2024")) == ["invoice-2024-17"]
    assert listed(operator.get(LIST + "?q=connection+refused")) == ["mail-99"]
    assert listed(operator.get(LIST + "?q=send_email")) == ["mail-99"]
    response = operator.get(LIST + "?q=nothing-like-this")
    assert listed(response) == []
    assert "No failed task matches these filters." in response.content.decode()


def test_filters_and_search_combine_and_links_keep_the_others(operator, memory):
    fail(memory, "a", error="ValueError: disk full")
    fail(memory, "b", error="KeyError: disk")
    fail(memory, "c", error="ValueError: timeout")
    response = operator.get(LIST + "?q=disk&error=ValueError")
    assert listed(response) == ["a"]
    [spec] = [s for s in response.context["sidebar"] if s["title"] == "queue"]
    assert all("q=disk" in c["query_string"] and "error=ValueError" in c["query_string"] for c in spec["choices"])
    assert 'href="?q=disk">&#10006; Clear all filters' in response.content.decode()


# -- pages ---------------------------------------------------------------------------------------


def test_pages_go_past_a_hundred_in_one_queue(operator, memory, clock):
    for i in range(250):
        fail(memory, f"t{i:03}")
        clock.advance(0.001)
    first = operator.get(LIST + "?alias=default&queue=default")
    last = operator.get(LIST + "?alias=default&queue=default&p=3")
    assert listed(first) == [f"t{i:03}" for i in range(249, 149, -1)]
    assert listed(last) == [f"t{i:03}" for i in range(49, -1, -1)]
    body = last.content.decode()
    assert "250 failed tasks" in body
    assert '<span class="this-page">3</span>' in body


def test_pages_across_queues_and_backends_cover_each_task_once(operator, memory, clock):
    other = MemoryBackend(alias="other", clock=clock)
    backends.set("other", other)
    for i in range(120):
        fail(memory if i % 3 else other, f"t{i:03}", queue="emails" if i % 2 else "default")
        clock.advance(0.001)
    with override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory"}, "other": {"BACKEND": "memory"}}}):
        backends.set("default", memory)
        backends.set("other", other)
        pages = [listed(operator.get(LIST + f"?p={number}")) for number in (1, 2)]
    assert [len(ids) for ids in pages] == [100, 20]
    assert pages[0] + pages[1] == [f"t{i:03}" for i in range(119, -1, -1)]


def test_a_page_past_the_end_shows_the_last_one(operator, memory):
    fail(memory, "only")
    assert listed(operator.get(LIST + "?p=7")) == ["only"]
    assert listed(operator.get(LIST + "?p=junk")) == ["only"]


# -- actions ----------------------------------------------------------------------------------------


def act(client, action, picked=(), *, query="", across=False, follow=True):
    data = {"action": action, "index": "0", "select_across": "1" if across else "0",
            "_selected_action": [selection(alias, queue, task_id) for alias, queue, task_id in picked]}
    return client.post(LIST + query, data, follow=follow)


def test_retry_moves_the_ticked_tasks_back_to_their_queues(operator, memory):
    for i in range(3):
        fail(memory, f"r{i}")
    fail(memory, "m0", queue="emails", name=MAIL)
    response = act(operator, "retry", [("default", "default", "r0"), ("default", "default", "r1"),
                                       ("default", "emails", "m0")])
    body = response.content.decode()
    assert "2 failed task(s) of default (default) retried" in body
    assert "1 failed task(s) of emails (default) retried" in body
    assert memory.get_status_sync("r0") == "ready" and memory.get_status_sync("m0", "emails") == "ready"
    assert memory.get_status_sync("r2") == "failed"


def test_an_action_goes_back_to_the_list_with_its_filters(operator, memory):
    fail(memory, "r0")
    response = act(operator, "retry", [("default", "default", "r0")], query="?error=ValueError&p=1", follow=False)
    assert response["Location"] == LIST + "?error=ValueError&p=1"


def test_select_all_retries_every_task_the_filters_match_on_every_page(operator, memory):
    for i in range(230):
        fail(memory, f"v{i}", error="ValueError: bad")
    for i in range(5):
        fail(memory, f"k{i}", error="KeyError: 'x'")
    page = operator.get(LIST + "?error=ValueError")
    body = page.content.decode()
    assert "Select all 230 failed tasks" in body and 'data-actions-icnt="100"' in body
    response = act(operator, "retry", [("default", "default", "v229")], query="?error=ValueError", across=True)
    assert "230 failed task(s) of default (default) retried" in response.content.decode()
    assert memory.get_stats_sync("default").ready == 230
    assert sorted(t.id for t in memory.list_failed_sync()) == [f"k{i}" for i in range(5)]


def test_select_all_delete_asks_first_then_deletes_every_match(operator, memory):
    for i in range(120):
        fail(memory, f"v{i}", error="ValueError: bad")
    fail(memory, "keep", error="KeyError: 'x'")
    confirm = act(operator, "delete", [("default", "default", "v0")], query="?error=ValueError", across=True)
    body = confirm.content.decode()
    assert confirm.status_code == 200 and "Are you sure" in body
    assert '<strong id="delete-count">120</strong>' in body and "exception ValueError" in body
    assert memory.get_stats_sync("default").failed == 121, "nothing is deleted before the confirmation"
    form_action = confirm.context["action_url"]
    assert form_action == reverse("admin:symphra_django_failedtask_delete") + "?error=ValueError"
    done = operator.post(form_action, {"select_across": "1", "post": "yes"}, follow=True)
    assert "120 failed task(s) of default (default) deleted" in done.content.decode()
    assert [t.id for t in memory.list_failed_sync()] == ["keep"]


def test_delete_of_ticked_tasks_confirms_then_deletes_only_those(operator, memory):
    for i in range(3):
        fail(memory, f"d{i}")
    picked = [("default", "default", "d0"), ("default", "default", "d2")]
    confirm = act(operator, "delete", picked)
    assert '<strong id="delete-count">2</strong>' in confirm.content.decode()
    operator.post(confirm.context["action_url"],
                  {"_selected_action": confirm.context["selections"], "post": "yes"})
    assert [t.id for t in memory.list_failed_sync()] == ["d1"]


def test_select_all_acts_on_every_backend_and_queue_the_filters_allow(operator, memory, clock):
    other = MemoryBackend(alias="other", clock=clock)
    with override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "memory"}, "other": {"BACKEND": "memory"}}}):
        backends.set("default", memory)
        backends.set("other", other)
        fail(memory, "a", queue="emails")
        fail(other, "b")
        fail(other, "c", error="KeyError: 'x'")
        response = act(operator, "retry", query="?error=ValueError", across=True)
    body = response.content.decode()
    assert "1 failed task(s) of emails (default) retried" in body
    assert "1 failed task(s) of default (other) retried" in body
    assert [t.id for t in other.list_failed_sync()] == ["c"]


def test_an_action_without_a_selection_or_an_action_changes_nothing(operator, memory):
    fail(memory, "kept")
    assert "No failed task selected" in act(operator, "retry").content.decode()
    assert "No action selected" in act(operator, "", [("default", "default", "kept")]).content.decode()
    forged = operator.post(LIST, {"action": "retry", "_selected_action": ["not json", '["only", "two"]']},
                           follow=True)
    assert "No failed task selected" in forged.content.decode()
    assert memory.get_status_sync("kept") == "failed"


def test_an_action_on_a_queue_or_alias_that_does_not_exist_touches_nothing(operator, memory):
    fail(memory, "kept")
    body = act(operator, "retry", [("default", "no-such-queue", "kept"), ("nope", "default", "kept")]).content.decode()
    assert "Failed tasks of no-such-queue (default) not retried" in body
    assert "Failed tasks of default (nope) not retried" in body
    assert "no-such-queue" not in memory.queues_sync()
    assert memory.get_status_sync("kept") == "failed"


def test_an_action_the_backend_refuses_shows_its_error(operator, memory, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionError("connection reset")

    fail(memory, "x")
    monkeypatch.setattr(memory, "retry_failed_sync", refuse)
    response = act(operator, "retry", [("default", "default", "x")])
    assert "not retried: ConnectionError: connection reset" in response.content.decode()


# -- who sees which controls ---------------------------------------------------------------------


def page_for(client, django_user_model, memory, *perms):
    fail(memory, "t1")
    client.force_login(make_user(django_user_model, "user", perms=("view_failedtask", *perms)))
    return client.get(LIST).content.decode()


def test_a_user_who_may_only_view_sees_no_checkboxes_and_no_action_bar(client, django_user_model, memory):
    body = page_for(client, django_user_model, memory)
    assert "t1" in body
    for control in ('type="checkbox"', 'name="action"', "action-toggle", "Select all", "Go</button>",
                    "actions.js"):
        assert control not in body, control


def test_a_user_who_may_retry_but_not_delete_is_offered_retry_only(client, django_user_model, memory):
    body = page_for(client, django_user_model, memory, "change_failedtask")
    assert 'class="action-select"' in body
    assert 'value="retry"' in body and 'value="delete"' not in body


def test_a_user_who_may_delete_but_not_retry_is_offered_delete_only(client, django_user_model, memory):
    body = page_for(client, django_user_model, memory, "delete_failedtask")
    assert 'value="delete"' in body and 'value="retry"' not in body


def test_an_action_posted_without_its_permission_is_refused(client, django_user_model, memory):
    fail(memory, "t1")
    client.force_login(make_user(django_user_model, "retrier", perms=("view_failedtask", "change_failedtask")))
    response = act(client, "delete", [("default", "default", "t1")], across=True, follow=False)
    assert response.status_code == 403
    assert memory.get_status_sync("t1") == "failed"


def test_task_ids_link_to_the_task_page_only_for_users_who_may_view_queues(client, django_user_model, memory):
    fail(memory, "t1")
    task_page = reverse("admin:symphra_django_queue_task", args=["default", "default", "t1"])
    client.force_login(make_user(django_user_model, "both", perms=("view_failedtask", "view_queue")))
    assert f'href="{task_page}"' in client.get(LIST).content.decode()
    client.force_login(make_user(django_user_model, "failed-only", perms=("view_failedtask",)))
    assert f'href="{task_page}"' not in client.get(LIST).content.decode()
