"""The queue backend contract, as tests any backend can run.

Each class below holds the rules of one area, explained in its docstring; the
rule ids (C1 to C13) are those of the table in ``docs/custom-backends.md``.
:class:`BackendContractTests` gathers them all. A backend's author subclasses
it (or only some of the areas, each of which can stand alone) and says how to
make a backend::

    from symphra_django.testing import BackendContractTests

    class TestMyBackend(BackendContractTests):
        def make_backend(self, **options):
            return MyBackend(alias="contract", **options)

pytest collects every rule into ``TestMyBackend``. See
:class:`~symphra_django.testing.harness.ContractHarness` for the hooks.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from symphra_django.backends.base import NotSupported, QueueBackend
from symphra_django.backends.failed_store import FailedQuery
from symphra_django.exceptions import CorruptPayload
from symphra_django.messages import DELAYED, FAILED, IN_FLIGHT, READY, TaskMessage
from symphra_django.testing.harness import (
    TASK_NAME,
    ContractHarness,
    delivery_limit,
    message,
)
from symphra_django.testing.hostile import HostileInputRules
from symphra_django.testing.waiting import wait_for_time, wait_until
from symphra_django.testing.workers import WorkerRegistryRules

OpenBackend = Callable[..., QueueBackend]


class StoringRules(ContractHarness):
    """C1 and C2: storing tasks, and ids that make ``enqueue`` idempotent.

    C1: once ``enqueue`` has returned True the task is stored. Any other
    instance of the backend (another process) can dequeue it, with the
    name, arguments and id it was given. The async methods obey the same
    rules as their ``_sync`` twins.

    C2: a task's id is its identity. Enqueueing an id that is already
    waiting or in flight returns False and changes nothing, so a producer
    that retries, or two producers racing, store a task once. Once the task
    is acknowledged its id may be used again.
    """

    def test_an_enqueued_task_is_seen_by_another_instance(self, open_backend: OpenBackend) -> None:
        producer = open_backend()
        task = message(args=[1, "two"], kwargs={"three": [3]})
        assert producer.enqueue_sync(task) is True
        consumer = open_backend()
        [got] = self.take(consumer)
        assert (got.id, got.name, got.args, got.kwargs) == (
            task.id, TASK_NAME, [1, "two"], {"three": [3]},
        )

    def test_the_async_methods_store_and_hand_out_the_same_way(self, backend: QueueBackend) -> None:
        async def scenario() -> int:
            task = message()
            assert await backend.enqueue(task) is True
            [got] = await backend.dequeue(1)
            assert got.id == task.id
            assert await backend.acknowledge(got) is True
            return await backend.get_queue_size()

        assert asyncio.run(scenario()) == 0

    def test_enqueueing_a_waiting_id_again_changes_nothing(self, backend: QueueBackend) -> None:
        assert backend.enqueue_sync(message(id="same-id", args=[1])) is True
        assert backend.enqueue_sync(message(id="same-id", args=[2])) is False
        [got] = self.take(backend)
        assert got.args == [1]
        assert self.take(backend) == []

    def test_enqueueing_an_id_in_flight_changes_nothing(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="busy"))
        [got] = self.take(backend)
        assert backend.enqueue_sync(message(id="busy")) is False
        assert backend.get_queue_size_sync() == 1
        assert backend.acknowledge_sync(got) is True

    def test_an_acknowledged_id_can_be_enqueued_again(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="again"))
        [got] = self.take(backend)
        backend.acknowledge_sync(got)
        assert backend.enqueue_sync(message(id="again")) is True
        assert self.ids(self.take(backend)) == ["again"]

    def test_enqueue_many_counts_only_new_ids(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="a"))
        added = backend.enqueue_many_sync([message(id="a"), message(id="b"), message(id="c")])
        assert added == 2
        assert backend.get_queue_size_sync() == 3


class DueTimeRules(ContractHarness):
    """C3: a task is never handed out before its scheduled time.

    A task scheduled for later waits, whatever its priority; once its time
    has come it is handed out like any other. ``enqueue(task,
    scheduled_time, priority)`` (an aware datetime or epoch seconds, and an
    int) overrides the time and priority the message carries.
    """

    def test_a_task_is_not_handed_out_before_its_time_whatever_its_priority(
        self, backend: QueueBackend
    ) -> None:
        due = time.time() + self.short_delay
        backend.enqueue_sync(message(id="later-urgent"), due, priority=100)
        backend.enqueue_sync(message(id="now-unimportant"), priority=-100)
        assert self.ids(self.take(backend)) == ["now-unimportant"]

        def handed_out() -> list:
            got = self.take(backend)
            # A dequeue that returned before the due time must have found nothing.
            if time.time() < due:
                assert got == [], "a task was handed out before its scheduled time"
            return got

        [got] = wait_until(
            handed_out,
            timeout=self.short_delay + self.redelivery_timeout,
            message="the scheduled task to be handed out once due",
        )
        assert got.id == "later-urgent"
        assert abs(got.scheduled_time - due) < 0.01

    def test_enqueue_arguments_override_the_messages_time_and_priority(
        self, backend: QueueBackend
    ) -> None:
        now = time.time()
        next_hour = datetime.fromtimestamp(now + 3600, UTC)
        a_minute_ago = datetime.fromtimestamp(now - 60, UTC)
        backend.enqueue_sync(message(id="next-hour"), next_hour, 7)
        backend.enqueue_sync(message(id="plain", scheduled_time=now - 120))
        backend.enqueue_sync(message(id="bumped"), a_minute_ago, 5)
        got = self.take(backend)
        assert self.ids(got) == ["bumped", "plain"]
        assert got[0].priority == 5
        assert abs(got[0].scheduled_time - a_minute_ago.timestamp()) < 0.01


class PriorityOrderRules(ContractHarness):
    """C4: due tasks are handed out by priority (higher first), then by
    scheduled time (earlier first), then in the order they were enqueued."""

    def test_due_tasks_come_by_priority_then_time_then_enqueue_order(self, backend: QueueBackend) -> None:
        now = time.time()
        backend.enqueue_sync(message(id="p0-old"), now - 10, priority=0)
        backend.enqueue_sync(message(id="p5-new"), now - 1, priority=5)
        backend.enqueue_sync(message(id="p5-old"), now - 5, priority=5)
        backend.enqueue_sync(message(id="p0-new-1"), now - 2, priority=0)
        backend.enqueue_sync(message(id="p0-new-2"), now - 2, priority=0)
        backend.enqueue_sync(message(id="negative"), now - 100, priority=-3)
        order = self.ids(self.take(backend, 1) + self.take(backend, 10))
        assert order == ["p5-old", "p5-new", "p0-old", "p0-new-1", "p0-new-2", "negative"]

    #: Rounds of the check below, each with a consumer that has just started.
    FRESH_CONSUMER_ROUNDS = 20

    def test_a_fresh_consumers_first_tasks_are_the_best_every_time(
        self, open_backend: Callable[..., QueueBackend]
    ) -> None:
        """30 tasks at priority 0, then 30 at priority 5 (and one at 9 due in
        an hour): a consumer that has just started hands out the 30 at
        priority 5 first, in enqueue order. Run many times, so that an order
        depending on how fast the first deliveries arrive fails here."""
        producer = open_backend()
        producer.enqueue_sync(message(id="later"), time.time() + 3600, priority=9)
        for round_ in range(self.FRESH_CONSUMER_ROUNDS):
            low = [message(id=f"r{round_}-low-{i}", priority=0) for i in range(30)]
            high = [message(id=f"r{round_}-high-{i}", priority=5) for i in range(30)]
            producer.enqueue_many_sync(low)
            producer.enqueue_many_sync(high)
            consumer = open_backend()
            taken: list[TaskMessage] = []
            claim = functools.partial(self.take, consumer, 8)
            while len(taken) < 60:
                got = wait_until(claim, timeout=10, message=f"round {round_}: task {len(taken) + 1} of 60")
                taken += got
                consumer.acknowledge_many_sync(got)
            assert self.ids(taken) == self.ids(high + low), f"round {round_}"
            if consumer.shared:
                consumer.disconnect_sync()


class LeasingRules(ContractHarness):
    """C5: ``dequeue`` leases what it hands out.

    It hands out at most ``max_items`` tasks, each with a ``lease_token``
    that identifies this delivery and its ``attempts`` counted. While the
    lease holds, nobody else is given the task, however many consumers ask
    at once. Only the current lease can answer for a task: ``acknowledge``,
    ``reject`` and ``extend_lease`` with any other token return False and
    change nothing, and a task answered once cannot be answered again.
    """

    def test_dequeue_hands_out_at_most_max_items_each_under_its_lease(self, backend: QueueBackend) -> None:
        backend.enqueue_many_sync([message() for _ in range(5)])
        first = self.take(backend, 3)
        assert len(first) == 3
        assert len(self.take(backend, 3)) == 2
        assert all(task.lease_token and task.attempts == 1 for task in first)

    def test_a_leased_task_is_given_to_nobody_else(self, open_backend: OpenBackend) -> None:
        first, second = open_backend(), open_backend()
        first.enqueue_sync(message(id="one"))
        assert len(self.take(first)) == 1
        assert self.take(second) == []
        assert self.take(first) == []

    def test_concurrent_consumers_receive_disjoint_tasks(self, open_backend: OpenBackend) -> None:
        producer = open_backend()
        producer.enqueue_many_sync([message(id=f"t{i}") for i in range(200)])
        consumers = [open_backend() for _ in range(4)]
        seen: list[list[str]] = [[] for _ in consumers]

        def consume(index: int) -> None:
            backend = consumers[index]
            while got := backend.dequeue_sync(7, lease_seconds=30):
                seen[index].extend(task.id for task in got)
                backend.acknowledge_many_sync(got)

        threads = [threading.Thread(target=consume, args=(i,)) for i in range(len(consumers))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        everything = [task_id for ids in seen for task_id in ids]
        assert sorted(everything) == sorted(f"t{i}" for i in range(200))

    def test_acknowledge_needs_the_current_lease(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="leased"))
        [got] = self.take(backend)
        forged = got.copy()
        forged.lease_token = "not-the-lease"
        assert backend.acknowledge_sync(forged) is False
        assert backend.acknowledge_sync(got) is True
        assert backend.acknowledge_sync(got) is False

    def test_reject_needs_the_current_lease(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="leased", max_attempts=5))
        [got] = self.take(backend)
        forged = got.copy()
        forged.lease_token = "not-the-lease"
        assert backend.reject_sync(forged, requeue=True) is False
        assert backend.reject_sync(forged, error="forged") is False
        # Neither back in the queue nor failed: still held by its lease.
        assert self.take(backend) == []
        assert backend.acknowledge_sync(got) is True
        assert backend.reject_sync(got, requeue=True) is False

    def test_extend_lease_needs_the_current_lease(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="leased"))
        [got] = self.take(backend)
        forged = got.copy()
        forged.lease_token = "not-the-lease"
        assert self.optional(backend.extend_lease_sync, forged, 30) is False
        assert backend.extend_lease_sync(got, 30) is True
        assert backend.acknowledge_sync(got) is True
        assert backend.extend_lease_sync(got, 30) is False

    def test_acknowledge_many_answers_a_batch(self, backend: QueueBackend) -> None:
        backend.enqueue_many_sync([message() for _ in range(10)])
        got = self.take(backend, 10)
        assert backend.acknowledge_many_sync(got) == 10
        assert backend.get_queue_size_sync() == 0


class LeaseExpiryRules(ContractHarness):
    """C6: a lease nobody answers in time gives the task back.

    When a lease runs out (its worker was killed, or is stuck) the task is
    handed out again, with this delivery counted in ``attempts``: tasks are
    delivered at least once, never lost. The worker whose lease ran out can
    no longer answer for the task (its ``acknowledge``, ``reject`` and
    ``extend_lease`` return False), so it cannot undo the new delivery.
    ``extend_lease`` renews a held lease for long tasks. ``dequeue`` without
    ``lease_seconds`` leases for the backend's ``lease_seconds`` option.
    """

    def test_an_expired_lease_gives_the_task_back_with_its_attempt_counted(
        self, backend: QueueBackend
    ) -> None:
        backend.enqueue_sync(message(id="lost", max_attempts=5))
        leased_at = time.time()
        [first] = self.take(backend, lease_seconds=self.short_lease)
        assert first.attempts == 1
        early = self.take(backend)
        if time.time() < leased_at + self.short_lease:
            assert early == [], "handed out again while its lease held"
        [again] = self.wait_for_delivery(backend, lease_seconds=60)
        assert (again.id, again.attempts) == ("lost", 2)
        assert backend.acknowledge_sync(again) is True

    def test_a_worker_whose_lease_expired_cannot_answer_for_the_new_delivery(
        self, backend: QueueBackend
    ) -> None:
        backend.enqueue_sync(message(id="slow", max_attempts=5))
        [stale] = self.take(backend, lease_seconds=self.short_lease)
        [fresh] = self.wait_for_delivery(backend, lease_seconds=60)
        assert fresh.id == "slow"
        assert backend.acknowledge_sync(stale) is False
        assert backend.reject_sync(stale, requeue=True) is False
        assert backend.reject_sync(stale, error="late") is False
        assert self.take(backend) == []
        assert backend.acknowledge_sync(fresh) is True

    def test_a_worker_whose_lease_expired_cannot_extend_it(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="slow", max_attempts=5))
        [stale] = self.take(backend, lease_seconds=self.short_lease)
        [fresh] = self.wait_for_delivery(backend, lease_seconds=60)
        assert self.optional(backend.extend_lease_sync, stale, 60) is False
        assert backend.acknowledge_sync(fresh) is True

    def test_extending_a_lease_keeps_the_task(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="long", max_attempts=5))
        leased_at = time.time()
        [got] = self.take(backend, lease_seconds=self.short_lease)
        # Renew every quarter lease until well past the first lease's end.
        step = self.short_lease / 4
        for renewal in range(1, 6):
            wait_for_time(leased_at + renewal * step)
            assert self.optional(backend.extend_lease_sync, got, self.short_lease) is True
        assert self.take(backend) == []
        assert backend.acknowledge_sync(got) is True

    def test_dequeue_without_a_lease_uses_the_lease_seconds_option(self, open_backend: OpenBackend) -> None:
        backend = open_backend(lease_seconds=self.short_lease)
        backend.enqueue_sync(message(id="default-lease", max_attempts=5))
        assert len(backend.dequeue_sync(1)) == 1
        [again] = self.wait_for_delivery(backend, lease_seconds=60)
        assert (again.id, again.attempts) == ("default-lease", 2)


class DeliveryLimitRules(ContractHarness):
    """C7: a task whose lease keeps expiring ends in the failed store.

    A task that kills or hangs every worker that runs it would otherwise
    come back forever. After its delivery limit (see
    :func:`~symphra_django.testing.harness.delivery_limit`) it leaves the
    queue for the failed store, with an error saying that its lease expired.
    """

    def test_a_task_whose_lease_keeps_expiring_ends_in_the_failed_store(self, backend: QueueBackend) -> None:
        # One run allowed: delivered once, then twice more for crashes.
        task = message(id="poison", max_attempts=1)
        backend.enqueue_sync(task)
        for delivery in range(1, delivery_limit(task) + 1):
            [got] = self.wait_for_delivery(backend, lease_seconds=self.short_lease)
            assert (got.id, got.attempts) == ("poison", delivery)

        def gone_from_the_queue() -> bool:
            assert self.take(backend) == [], "handed out again past its delivery limit"
            return backend.get_queue_size_sync() == 0

        wait_until(
            gone_from_the_queue,
            timeout=self.short_lease + self.redelivery_timeout,
            message="the task to leave the queue after its last lease expired",
        )
        [failed] = self.optional(backend.list_failed_sync)
        assert failed.id == "poison"
        assert failed.error is not None and "lease expired" in failed.error
        assert failed.failed_at is not None, "the failed store records when the task failed"


class RejectRules(ContractHarness):
    """C8: ``reject`` gives a leased task back, to the queue or to the failed store.

    With ``requeue=True`` the task returns to its queue (after ``delay``
    seconds, if given), its attempts counted. Without it the task goes to
    the failed store, kept with the ``error`` and ``traceback`` given, and
    no longer counts in the queue. From the failed store a task can be
    retried (back in the queue, due now) or deleted.
    """

    def test_reject_with_requeue_puts_the_task_back(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="again", max_attempts=5))
        [got] = self.take(backend)
        assert backend.reject_sync(got, requeue=True) is True
        [back] = self.take(backend)
        assert (back.id, back.attempts) == ("again", 2)

    def test_reject_with_requeue_and_delay_holds_the_task_back(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="later", max_attempts=5))
        [got] = self.take(backend)
        assert backend.reject_sync(got, requeue=True, delay=30, error="try later") is True
        assert self.take(backend) == []
        assert backend.get_queue_size_sync() == 1

    def test_reject_without_requeue_files_the_task_with_its_error_as_failed(
        self, backend: QueueBackend
    ) -> None:
        backend.enqueue_sync(message(id="broken", args=[42]))
        [got] = self.take(backend)
        assert backend.reject_sync(got, error="ValueError: bad", traceback="Traceback ...") is True
        assert backend.get_queue_size_sync() == 0
        assert self.take(backend) == []
        [failed] = self.optional(backend.list_failed_sync)
        assert (failed.id, failed.args, failed.error, failed.traceback) == (
            "broken", [42], "ValueError: bad", "Traceback ...",
        )

    def test_a_failed_task_can_be_retried(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="retry-me"))
        [got] = self.take(backend)
        backend.reject_sync(got, error="boom")
        assert self.optional(backend.retry_failed_sync, ["retry-me", "unknown"]) == 1
        assert self.optional(backend.list_failed_sync) == []
        assert self.ids(self.take(backend)) == ["retry-me"]

    def test_a_failed_task_can_be_deleted(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="delete-me"))
        [got] = self.take(backend)
        backend.reject_sync(got, error="boom")
        assert self.optional(backend.delete_failed_sync, ["delete-me"]) == 1
        assert self.optional(backend.list_failed_sync) == []


class FailedStoreRules(ContractHarness):
    """C8, continued: finding failed tasks and acting on them.

    Every failed task records when it failed (``meta["failed_at"]``, read
    as ``TaskMessage.failed_at``). ``list_failed`` lists them newest first,
    page by page (``limit``, ``offset``). ``find_failed`` filters them
    (:class:`~symphra_django.backends.failed_store.FailedQuery`: task name,
    exception class, failed-at range, text in the id, name or error) and
    counts the matches; ``retry_failed_where`` and ``delete_failed_where``
    act on every match. The base class provides the last three on top of
    ``list_failed``; a backend that overrides them must agree with it.
    ``get_task`` shows one task, in whatever state, without taking it.
    """

    def fail(self, backend: QueueBackend, task_id: str, error: str, name: str = TASK_NAME) -> None:
        backend.enqueue_sync(message(id=task_id, name=name, args=[task_id]))
        [got] = self.take(backend, 1)
        assert got.id == task_id
        assert backend.reject_sync(got, error=error, traceback="Traceback ...") is True

    def test_a_failed_task_records_when_it_failed(self, backend: QueueBackend) -> None:
        before = time.time()
        self.fail(backend, "timed", "ValueError: bad")
        after = time.time()
        [failed] = self.optional(backend.list_failed_sync)
        assert failed.failed_at is not None, "the failed store records when the task failed"
        # Stores may take the time from their server (same clock, coarser).
        assert before - 5 <= failed.failed_at <= after + 5

    def test_failed_tasks_are_listed_newest_first_page_by_page(self, backend: QueueBackend) -> None:
        for i in range(5):
            self.fail(backend, f"f{i}", "ValueError: bad")
        assert self.ids(self.optional(backend.list_failed_sync, None, 2, 0)) == ["f4", "f3"]
        assert self.ids(self.optional(backend.list_failed_sync, None, 2, 2)) == ["f2", "f1"]
        assert self.ids(self.optional(backend.list_failed_sync, None, 2, 4)) == ["f0"]
        page = self.optional(backend.find_failed_sync, None, None, 2, 2)
        assert (self.ids(page.tasks), page.total) == (["f2", "f1"], 5)

    def failed_variety(self, backend: QueueBackend) -> float:
        """Three failed tasks of two names and two exception classes; returns
        a time before the first failed."""
        before = time.time()
        self.fail(backend, "disk-alpha", "ValueError: disk full", name="contract.report")
        self.fail(backend, "key-beta", "KeyError: 'user'", name="contract.mail")
        self.fail(backend, "api-gamma", "ValueError: the API timed out", name="contract.report")
        return before

    def found(self, backend: QueueBackend, **query: Any) -> tuple[list[str], int]:
        page = self.optional(backend.find_failed_sync, None, FailedQuery(**query))
        return self.ids(page.tasks), page.total

    def test_find_failed_filters_and_counts_the_matches(self, backend: QueueBackend) -> None:
        before = self.failed_variety(backend)
        assert self.found(backend) == (["api-gamma", "key-beta", "disk-alpha"], 3)
        assert self.found(backend, task_name="contract.report") == (["api-gamma", "disk-alpha"], 2)
        assert self.found(backend, error_kind="ValueError") == (["api-gamma", "disk-alpha"], 2)
        assert self.found(backend, error_kind="KeyError") == (["key-beta"], 1)
        assert self.found(backend, error_kind="Value") == ([], 0)
        assert self.found(backend, task_name="contract.mail", error_kind="ValueError") == ([], 0)
        assert self.found(backend, search="DISK") == (["disk-alpha"], 1)
        assert self.found(backend, search="beta") == (["key-beta"], 1)
        assert self.found(backend, search="contract.mail") == (["key-beta"], 1)
        assert self.found(backend, failed_since=before - 60) == (["api-gamma", "key-beta", "disk-alpha"], 3)
        assert self.found(backend, failed_since=time.time() + 3600) == ([], 0)
        assert self.found(backend, failed_until=before - 3600) == ([], 0)
        assert self.found(backend, failed_since=before - 60, error_kind="KeyError") == (["key-beta"], 1)
        page = self.optional(backend.find_failed_sync, None, FailedQuery(error_kind="ValueError"), 1, 1)
        assert (self.ids(page.tasks), page.total) == (["disk-alpha"], 2)

    def test_retry_and_delete_where_act_on_every_match_and_nothing_else(self, backend: QueueBackend) -> None:
        self.failed_variety(backend)
        assert self.optional(backend.retry_failed_where_sync, None, FailedQuery(error_kind="ValueError")) == 2
        assert sorted(self.ids(self.take(backend))) == ["api-gamma", "disk-alpha"]
        assert self.ids(self.optional(backend.list_failed_sync)) == ["key-beta"]
        assert self.optional(backend.delete_failed_where_sync, None, FailedQuery(search="nothing")) == 0
        assert self.optional(backend.delete_failed_where_sync) == 1
        assert self.optional(backend.list_failed_sync) == []

    def test_get_task_shows_a_failed_task_with_its_error(self, backend: QueueBackend) -> None:
        self.fail(backend, "shown", "ValueError: bad")
        task = self.optional(backend.get_task_sync, "shown")
        assert task is not None
        assert (task.id, task.args, task.error) == ("shown", ["shown"], "ValueError: bad")
        assert task.failed_at is not None

    def test_get_task_shows_a_waiting_task_and_a_leased_one_with_its_lease(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="leased", args=[1]))
        [got] = self.take(backend)
        backend.enqueue_sync(message(id="waiting", args=[2]), priority=4)
        waiting = self.optional(backend.get_task_sync, "waiting")
        assert waiting is not None
        assert (waiting.id, waiting.args, waiting.priority, waiting.attempts) == ("waiting", [2], 4, 0)
        leased = self.optional(backend.get_task_sync, "leased")
        assert leased is not None
        assert (leased.id, leased.args, leased.attempts) == ("leased", [1], 1)
        assert leased.lease_token == got.lease_token
        assert leased.lease_expires is not None and got.lease_expires is not None
        assert abs(leased.lease_expires - got.lease_expires) < 1
        assert self.optional(backend.get_task_sync, "unknown") is None
        assert self.take(backend) != [], "get_task took nothing off the queue"


class QueueIsolationRules(ContractHarness):
    """C9: named queues are independent.

    ``dequeue(queue=...)`` hands out only tasks of that queue; calls without
    a queue use the backend's ``queue_name`` option (``"default"`` unless
    set).
    """

    def test_named_queues_are_isolated(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="mail", queue="emails"))
        backend.enqueue_sync(message(id="plain"))
        assert self.ids(self.take(backend, queue="emails")) == ["mail"]
        assert self.take(backend, queue="emails") == []
        assert self.ids(self.take(backend, queue="default")) == ["plain"]

    def test_calls_without_a_queue_use_the_queue_name_option(self, open_backend: OpenBackend) -> None:
        backend = open_backend(queue_name="reports")
        backend.enqueue_sync(message(id="report", queue="reports"))
        backend.enqueue_sync(message(id="plain", queue="default"))
        assert backend.get_queue_size_sync() == 1
        assert self.ids(self.take(backend)) == ["report"]
        assert self.ids(self.take(backend, queue="default")) == ["plain"]


class SizeAndStatsRules(ContractHarness):
    """C10: counting a queue.

    ``get_queue_size`` counts what is still to be done: tasks ready,
    delayed and in flight, but not failed ones. The optional ``get_stats``
    gives each of those counts and the failed one; the optional
    ``get_status`` tells which state one task id is in (None when unknown);
    the optional ``peek`` shows the next tasks without leasing them.
    """

    def one_task_in_each_state(self, backend: QueueBackend) -> tuple[str, str]:
        """Leave 1 task ready, 2 delayed, 1 in flight and 1 failed; return
        the ids of the one in flight and the failed one."""
        now = time.time()
        backend.enqueue_many_sync(
            [message(id=f"ready-{i}", scheduled_time=now - 10 + i) for i in range(3)]
            + [message(id=f"delayed-{i}", scheduled_time=now + 3600) for i in range(2)]
        )
        [held] = self.take(backend, 1)
        [failing] = self.take(backend, 1)
        backend.reject_sync(failing, error="x")
        return held.id, failing.id

    def test_queue_size_counts_ready_delayed_and_in_flight_tasks(self, backend: QueueBackend) -> None:
        self.one_task_in_each_state(backend)
        assert backend.get_queue_size_sync() == 4

    def test_stats_count_each_state(self, backend: QueueBackend) -> None:
        self.one_task_in_each_state(backend)
        stats = self.optional(backend.get_stats_sync)
        assert (stats.ready, stats.delayed, stats.in_flight, stats.failed) == (1, 2, 1, 1)
        assert stats.size == backend.get_queue_size_sync()

    def test_status_tells_the_state_of_a_task(self, backend: QueueBackend) -> None:
        held, failed = self.one_task_in_each_state(backend)
        states = {
            task_id: self.optional(backend.get_status_sync, task_id)
            for task_id in ("ready-2", "delayed-0", held, failed, "unknown")
        }
        assert states == {
            "ready-2": READY, "delayed-0": DELAYED, held: IN_FLIGHT, failed: FAILED, "unknown": None,
        }

    def test_peek_shows_the_next_tasks_without_leasing_them(self, backend: QueueBackend) -> None:
        a_minute_ago = time.time() - 60
        backend.enqueue_sync(message(id="peeked"), a_minute_ago, 7)
        [peeked] = self.optional(backend.peek_sync)
        assert (peeked.id, peeked.priority) == ("peeked", 7)
        assert abs(peeked.scheduled_time - a_minute_ago) < 0.01
        assert self.ids(self.take(backend)) == ["peeked"]

    def test_peek_lists_waiting_tasks_in_the_order_workers_take_them(self, backend: QueueBackend) -> None:
        # Due tasks as dequeue hands them out (C4); then delayed tasks by when
        # they fall due, whatever their priority (C3), ties by priority.
        now = time.time()
        backend.enqueue_sync(message(id="due-p0-old"), now - 20, 0)
        backend.enqueue_sync(message(id="due-p5"), now - 5, 5)
        backend.enqueue_sync(message(id="due-p0-new"), now - 10, 0)
        backend.enqueue_sync(message(id="tomorrow-p9"), now + 86400, 9)
        backend.enqueue_sync(message(id="in-an-hour-p0"), now + 3600, 0)
        backend.enqueue_sync(message(id="in-an-hour-p3"), now + 3600, 3)
        backend.enqueue_sync(message(id="in-a-minute-m5"), now + 60, -5)
        expected = ["due-p5", "due-p0-old", "due-p0-new", "in-a-minute-m5", "in-an-hour-p3", "in-an-hour-p0",
                    "tomorrow-p9"]
        assert self.ids(self.optional(backend.peek_sync, None, 10)) == expected
        assert self.ids(self.optional(backend.peek_sync, None, 2)) == expected[:2]
        assert self.ids(self.take(backend)) == expected[:3]


class ClearAndHealthRules(ContractHarness):
    """C11: ``clear`` and ``health_check``.

    ``clear(queue)`` removes every waiting and in-flight task of one queue,
    returns how many, and leaves the other queues alone. ``health_check``
    answers True while the backend works and never raises. ``upkeep``
    (which workers call in the background when ``wants_upkeep`` is true)
    answers a wait in seconds and moves no task: what waited still waits,
    what was leased is still leased.
    """

    def test_clear_empties_one_queue_and_nothing_else(self, backend: QueueBackend) -> None:
        backend.enqueue_many_sync([message(queue="emails") for _ in range(3)])
        backend.enqueue_sync(message(id="keep"))
        self.take(backend, 1, queue="emails")
        assert backend.clear_sync("emails") == 3
        assert backend.get_queue_size_sync("emails") == 0
        assert self.ids(self.take(backend)) == ["keep"]

    def test_health_check_answers_true(self, backend: QueueBackend) -> None:
        assert backend.health_check_sync() is True

    def test_upkeep_answers_a_wait_and_moves_no_task(self, backend: QueueBackend) -> None:
        backend.enqueue_many_sync([message(id=f"u{i}") for i in range(3)])
        [leased] = self.take(backend, 1)
        wait = backend.upkeep()
        assert isinstance(wait, (int, float)) and wait > 0, f"upkeep() must answer a wait in seconds, not {wait!r}"
        assert backend.upkeep() > 0  # and again, with nothing new
        assert backend.acknowledge_sync(leased), "upkeep() must leave a lease alone"
        assert sorted(self.ids(self.take(backend))) == sorted({"u0", "u1", "u2"} - {leased.id})


#: Payloads nobody can read, as a broken or hostile producer might store them.
def _with_field(name: str, raw_value: str) -> bytes:
    """A valid payload whose field ``name`` holds the JSON text ``raw_value``."""
    data = message(id=f"bad-{name}").to_dict()
    data[name] = "@@"
    return json.dumps(data).replace('"@@"', raw_value).encode()


#: Payloads nobody can turn into a task, each with (part of) the reason the
#: failed store must give.
UNREADABLE_PAYLOADS: dict[str, tuple[bytes, str]] = {
    "pickle-like": (b"\x80\x04\x95not json at all", "not UTF-8"),
    "invalid-utf8-inside-json": (b'{"v": 1, "id": "\xff\xfe"}', "not UTF-8"),
    "deep-nesting": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "missing-fields": (b'{"v": 1, "id": "x"}', "payload has no 'name'"),
    "not-an-object": (b"[1, 2, 3]", "not a JSON object"),
    "nan-time": (_with_field("scheduled_time", "NaN"), "'scheduled_time' is not a finite number"),
    "priority-out-of-range": (_with_field("priority", "101"), "'priority' is outside"),
}


class PayloadSafetyRules(ContractHarness):
    """C12: payloads are JSON, read with suspicion.

    A message travels as JSON (``TaskMessage.to_json``): its arguments,
    keyword arguments and meta come back equal, and so do the attempts it
    already carries (moving tasks between backends keeps their count).
    Nothing read from storage is unpickled or imported. A payload that
    cannot be read is not guessed at and does not stop the queue: it goes
    to the failed store with a reason starting ``corrupt payload`` and the
    tasks behind it are handed out (these checks need
    :meth:`~symphra_django.testing.harness.ContractHarness.store_raw_payload`).
    """

    def test_payloads_round_trip_as_json(self, backend: QueueBackend) -> None:
        task = message(args=[{"nested": [1, 2.5, None, True]}], kwargs={"s": "ü"}, meta={"k": "v"})
        backend.enqueue_sync(task)
        [got] = self.take(backend)
        assert (got.args, got.kwargs, got.meta) == (task.args, task.kwargs, {"k": "v"})

    def test_attempts_already_counted_travel_with_the_message(self, backend: QueueBackend) -> None:
        backend.enqueue_sync(message(id="moved", attempts=2, max_attempts=5))
        [got] = self.take(backend)
        assert got.attempts == 3

    @pytest.mark.parametrize(("raw", "reason"), UNREADABLE_PAYLOADS.values(), ids=UNREADABLE_PAYLOADS.keys())
    def test_an_unreadable_payload_goes_to_the_failed_store_and_its_batch_mates_are_delivered(
        self, backend: QueueBackend, raw: bytes, reason: str
    ) -> None:
        backend.enqueue_sync(message(id="before"))
        try:
            stored = self.store_raw_payload(backend, "default", raw)
        except NotSupported as exc:
            pytest.skip(str(exc))
        backend.enqueue_sync(message(id="after"))
        # One claim of the whole queue: the unreadable entry is filed as
        # failed and the tasks around it are handed out all the same.
        assert sorted(self.ids(self.take(backend, 10))) == ["after", "before"]
        [failed] = self.optional(backend.list_failed_sync)
        assert failed.error is not None and failed.error.startswith("corrupt payload: ")
        assert len(failed.error) < 400, "the reason must stay short, whatever the payload"
        if isinstance(stored, bytes):
            assert reason in failed.error
        if stored is not None:
            # Whatever the storage kept, the reason is the decoder's own.
            with pytest.raises(CorruptPayload) as refused:
                TaskMessage.from_json(stored)
            assert failed.error == f"corrupt payload: {refused.value}"
        assert backend.get_queue_size_sync() == 2


class BackendContractTests(
    StoringRules,
    DueTimeRules,
    PriorityOrderRules,
    LeasingRules,
    LeaseExpiryRules,
    DeliveryLimitRules,
    RejectRules,
    FailedStoreRules,
    QueueIsolationRules,
    SizeAndStatsRules,
    ClearAndHealthRules,
    PayloadSafetyRules,
    HostileInputRules,
    WorkerRegistryRules,
):
    """Every rule of the queue backend contract (C1 to C13), and the worker
    registry's.

    Subclass it with a name pytest collects (``Test…``) and override
    :meth:`~symphra_django.testing.harness.ContractHarness.make_backend`.
    """
