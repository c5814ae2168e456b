"""Hostile input: what other programs leave in a queue, and tasks that misbehave.

A production queue is shared with old versions, hand-written tools and other
services. Whatever one of them stores, a backend keeps each bad entry to
itself: it ends in the failed store with a short reason, the tasks stored
around it are handed out, and the workers keep claiming. Nothing read from
storage is ever unpickled, and no name read from storage is imported.

The rules need the backend author's hooks to write into storage as a
foreign program would (see
:class:`~symphra_django.testing.harness.ContractHarness`):
``store_raw_payload`` for payloads and ``store_forged_entry`` for entries
whose payload reads fine but whose bookkeeping (state, headers, ledger,
columns) was forged. Without them those rules are skipped; the rules about
tasks that misbehave need no hook.
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from symphra_django.backends.base import NotSupported, QueueBackend
from symphra_django.exceptions import CorruptPayload
from symphra_django.messages import TaskMessage
from symphra_django.testing.harness import ContractHarness, message
from symphra_django.testing.waiting import wait_until

#: The longest reason the failed store may keep for a bad entry, whatever the
#: entry held: reasons go to logs and the admin, and a hostile payload must
#: not be echoed back whole.
MAX_REASON = 1024

#: Bytes of the huge payloads: several megabytes.
HUGE = 5 * 1024 * 1024

#: What a dotted-path task name points at; ``leave_a_mark`` below.
MARKING_FUNCTION = f"{__name__}.leave_a_mark"


def leave_a_mark(path: str) -> None:
    """Create ``path``. A payload names this importable function: if a worker
    ever imported and called a name read from storage, the file would appear."""
    Path(path).touch()


class _ForgedPickle:
    """Pickles into bytes whose loading calls ``open(path, "w")``, creating
    ``path``: what an attacker would store, hoping a consumer unpickles it."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def forged_pickle(marker: Path) -> bytes:
    """A real pickle payload that would create ``marker`` when loaded."""
    return pickle.dumps(_ForgedPickle(marker), protocol=pickle.HIGHEST_PROTOCOL)


def _payload(**changes: Any) -> bytes:
    """A valid payload with ``changes`` applied; a change to ``...`` removes
    the field. Values are given as JSON text so that NaN and infinities can
    be written as a foreign producer would."""
    data: dict[str, Any] = message(id="hostile").to_dict()
    placeholders: dict[str, str] = {}
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            placeholders[f"@@{key}@@"] = value
            data[key] = f"@@{key}@@"
    text = json.dumps(data)
    for placeholder, value in placeholders.items():
        text = text.replace(json.dumps(placeholder), value)
    return text.encode()


#: Every class of unreadable payload a foreign producer might store, with a
#: part of the reason the failed store must give (the field it names).
BAD_PAYLOADS: dict[str, tuple[Callable[[], bytes], str]] = {
    "not-json": (lambda: b"hello, this is not JSON", "not valid JSON"),
    "pickle-bytes": (lambda: pickle.dumps({"name": "os.system", "args": ["true"]}), "not UTF-8"),
    "invalid-utf8": (lambda: b'{"v": 1, "id": "\xff\xfe", "name": "x"}', "not UTF-8"),
    "deeply-nested": (lambda: b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    "deeply-nested-field": (
        lambda: _payload(args="[" * 100_000 + "]" * 100_000), "nested too deeply",
    ),
    "huge-garbage": (lambda: b"x" * HUGE, "not valid JSON"),
    "huge-field-of-wrong-type": (lambda: _payload(args=json.dumps("x" * HUGE)), "'args'"),
    "missing-name": (lambda: _payload(name=...), "'name'"),
    "missing-everything": (lambda: b"{}", "payload version"),
    "not-an-object": (lambda: b'["a", "list"]', "not a JSON object"),
    "wrong-type-kwargs": (lambda: _payload(kwargs="[1, 2]"), "'kwargs'"),
    "wrong-type-attempts": (lambda: _payload(attempts="true"), "'attempts'"),
    "wrong-type-name": (lambda: _payload(name="42"), "'name'"),
    "nan-time": (lambda: _payload(scheduled_time="NaN"), "'scheduled_time'"),
    "infinite-time": (lambda: _payload(scheduled_time="Infinity"), "'scheduled_time'"),
    "negative-infinite-time": (lambda: _payload(scheduled_time="-Infinity"), "'scheduled_time'"),
    "overflowing-time": (lambda: _payload(enqueued_at="1e999"), "'enqueued_at'"),
    "priority-too-high": (lambda: _payload(priority="10000000"), "'priority'"),
    "priority-too-low": (lambda: _payload(priority="-101"), "'priority'"),
    "unknown-version": (lambda: _payload(v="2"), "unknown payload version 2"),
    "negative-attempts": (lambda: _payload(attempts="-1"), "'attempts'"),
}


class HostileInputRules(ContractHarness):
    """C13: one bad stored entry never stalls a queue, strands a batch or hides a task.

    Whatever a foreign or broken producer stores (not JSON, a pickle,
    invalid UTF-8, JSON nested too deeply, megabytes, missing fields, wrong
    types, NaN or infinite times, a priority out of range, an unknown
    payload version), that one entry goes to the failed store with a reason
    starting ``corrupt payload:``, under 1 KB and naming the field at fault;
    the tasks stored before and after it are handed out; ``dequeue`` keeps
    working and the counts stay right. An entry whose payload reads fine but
    whose bookkeeping was forged is handed out as its payload says or filed
    as failed, never silently dropped. A task name that is a dotted path to
    an importable function is never imported (a worker fails it as an
    unknown task), a pickle is never loaded, and a task raising
    ``BaseException`` fails alone while its worker goes on.
    """

    # -- writing into storage as another program would -------------------------------

    def plant(self, backend: QueueBackend, queue: str, raw: bytes) -> bytes | str | None:
        """``store_raw_payload``, or skip the rule if the backend has no such hook."""
        try:
            return self.store_raw_payload(backend, queue, raw)
        except NotSupported as exc:
            pytest.skip(str(exc))

    @staticmethod
    def failed_count(backend: QueueBackend) -> int:
        """Entries in the failed store, by ``get_stats`` where supported.

        Counts are read instead of browsing the failed store while tasks are
        being failed: the kit waits on them, then lists the store once.
        """
        try:
            return backend.get_stats_sync().failed
        except NotSupported:
            return len(ContractHarness.optional(backend.list_failed_sync))

    def settle(self, backend: QueueBackend, wanted: set[str], failed: int) -> list[TaskMessage]:
        """Claim until every id of ``wanted`` was handed out (each once) and
        the failed store holds ``failed`` entries; return what was handed out.

        Claiming goes on while waiting: a backend may receive a big entry
        after the small ones around it, and only a claim files it.
        """
        got: list[TaskMessage] = []

        def settled() -> bool:
            got.extend(self.take(backend, 10, lease_seconds=60))
            ids = self.ids(got)
            assert len(ids) == len(set(ids)), f"a task was handed out twice: {sorted(ids)}"
            assert set(ids) <= wanted, f"handed out what was never enqueued: {sorted(set(ids) - wanted)}"
            return set(ids) == wanted and self.failed_count(backend) >= failed

        wait_until(
            settled, timeout=self.redelivery_timeout,
            message=lambda: (
                f"{sorted(wanted)} to be handed out (got {sorted(self.ids(got))}) and "
                f"{failed} failed entr(y/ies) (found {self.failed_count(backend)})"
            ),
        )
        return got

    def failed_entries(self, backend: QueueBackend, count: int) -> list[TaskMessage]:
        """The failed store, once it counts ``count`` entries (exactly that many)."""
        wait_until(lambda: self.failed_count(backend) >= count, timeout=self.redelivery_timeout,
                   message=f"{count} entr(y/ies) in the failed store")
        failed = self.optional(backend.list_failed_sync)
        assert len(failed) == count, f"expected {count} failed entr(y/ies), found {failed}"
        return failed

    @staticmethod
    def assert_short_reason(failed: TaskMessage, *, naming: str | None = None) -> None:
        assert isinstance(failed.error, str) and failed.error, "a failed entry must say why"
        assert len(failed.error) < MAX_REASON, (
            f"the reason must stay short whatever the entry held; it is {len(failed.error)} characters"
        )
        if naming is not None:
            assert naming in failed.error, f"the reason must name {naming!r}: {failed.error!r}"

    # -- bad payloads ------------------------------------------------------------------------

    @pytest.mark.parametrize(("make_raw", "naming"), BAD_PAYLOADS.values(), ids=BAD_PAYLOADS.keys())
    def test_a_bad_payload_is_filed_as_failed_and_everything_around_it_runs(
        self, backend: QueueBackend, make_raw: Callable[[], bytes], naming: str
    ) -> None:
        now = time.time()
        backend.enqueue_sync(message(id="before", scheduled_time=now - 2))
        stored = self.plant(backend, "default", make_raw())
        backend.enqueue_sync(message(id="after"))
        got = self.settle(backend, {"before", "after"}, failed=1)
        [failed] = self.failed_entries(backend, 1)
        assert failed.error is not None and failed.error.startswith("corrupt payload: ")
        self.assert_short_reason(failed, naming=naming if isinstance(stored, bytes) else None)
        if stored is not None:
            # A storage that refuses some bytes (invalid UTF-8 in a
            # PostgreSQL text column) kept other text: whatever it kept, the
            # reason is the decoder's own. A backend holding objects (None)
            # was given an invalid object instead: its reason is its own.
            with pytest.raises(CorruptPayload) as refused:
                TaskMessage.from_json(stored)
            assert failed.error == f"corrupt payload: {refused.value}"
        # The workers' dequeue keeps working, and the counts are right: the
        # two batch-mates in flight, the bad entry failed and nowhere else.
        backend.enqueue_sync(message(id="later"))
        assert self.ids(self.take(backend, 10)) == ["later"]
        assert backend.get_queue_size_sync() == 3
        stats = self.optional(backend.get_stats_sync)
        assert (stats.ready, stats.delayed, stats.in_flight, stats.failed) == (0, 0, 3, 1)
        assert backend.acknowledge_many_sync(got) == 2

    def test_several_bad_payloads_in_one_batch_each_go_alone(self, backend: QueueBackend) -> None:
        bad = ["not-json", "invalid-utf8", "deeply-nested", "nan-time", "priority-too-high"]
        good = {f"good-{i}" for i in range(len(bad) + 1)}
        for i, kind in enumerate(bad):
            backend.enqueue_sync(message(id=f"good-{i}"))
            self.plant(backend, "default", BAD_PAYLOADS[kind][0]())
        backend.enqueue_sync(message(id=f"good-{len(bad)}"))
        got = self.settle(backend, good, failed=len(bad))
        failed = self.failed_entries(backend, len(bad))
        for entry in failed:
            self.assert_short_reason(entry)
        assert backend.acknowledge_many_sync(got) == len(good)
        assert backend.get_queue_size_sync() == 0

    def test_a_raw_entry_counts_in_the_queue_size_until_it_is_filed(self, backend: QueueBackend) -> None:
        # Whatever waits in storage is work not done: ``runscheduler --burst``
        # and the admin read these counts, so a foreign entry must show.
        self.plant(backend, "default", BAD_PAYLOADS["not-json"][0]())
        assert backend.get_queue_size_sync() == 1
        assert self.optional(backend.get_stats_sync).ready == 1
        assert self.take(backend, 10) == []
        assert backend.get_queue_size_sync() == 0

    # -- forged bookkeeping ------------------------------------------------------------------

    def test_an_entry_with_forged_bookkeeping_is_run_or_filed_never_dropped(self, backend: QueueBackend) -> None:
        now = time.time()
        backend.enqueue_sync(message(id="before", scheduled_time=now - 2))
        try:
            self.store_forged_entry(backend, "default", message(id="forged"))
        except NotSupported as exc:
            pytest.skip(str(exc))
        backend.enqueue_sync(message(id="after"))
        got: list[TaskMessage] = []

        def settled() -> bool:
            got.extend(self.take(backend, 10, lease_seconds=60))
            ids = self.ids(got)
            assert len(ids) == len(set(ids)), f"a task was handed out twice: {sorted(ids)}"
            return {"before", "after"} <= set(ids) and ("forged" in ids or self.failed_count(backend) == 1)

        wait_until(settled, timeout=self.redelivery_timeout,
                   message=lambda: f"the forged entry to be handed out or filed (got {self.ids(got)})")
        failed = self.optional(backend.list_failed_sync)
        if "forged" in self.ids(got):
            assert failed == []
        else:
            [entry] = failed
            self.assert_short_reason(entry)
        assert backend.get_queue_size_sync() == len(got)
        assert backend.acknowledge_many_sync(got) == len(got)
        assert backend.get_queue_size_sync() == 0

    # -- names and pickles from storage are never code --------------------------------------

    @pytest.fixture
    def pool(self) -> Iterator[Callable[..., Any]]:
        """Start a one-thread WorkerPool on a backend with a registry of its
        own; every pool started is stopped after the test."""
        from symphra_django.runtime.worker import WorkerPool

        started: list[WorkerPool] = []

        def start(backend: QueueBackend, registry: Any) -> WorkerPool:
            worker_pool = WorkerPool(
                backend, [backend.default_queue], concurrency=1, batch_size=8,
                lease_seconds=30, poll_interval=0.02, registry=registry,
            )
            worker_pool.start()
            started.append(worker_pool)
            return worker_pool

        yield start
        for worker_pool in started:
            worker_pool.stop(5)

    @staticmethod
    def recording_registry(ran: list[Any]) -> Any:
        """A registry with one task, ``hostile.record``, appending its argument to ``ran``."""
        from symphra_django.tasks.base import declare
        from symphra_django.tasks.registry import TaskRegistry

        registry = TaskRegistry()
        declare(ran.append, name="hostile.record", retry_policy="no_retry", target=registry)
        return registry

    def test_a_task_name_that_is_an_importable_path_is_never_imported(
        self, backend: QueueBackend, pool: Callable[..., Any], tmp_path: Path
    ) -> None:
        marker = tmp_path / "imported"
        # Stored the usual way: a worker runs it, looks the name up in its
        # registry, finds nothing and fails it as an unknown task.
        backend.enqueue_sync(message(id="dotted", name=MARKING_FUNCTION, args=[str(marker)]))
        planted = message(id="dotted-raw", name=MARKING_FUNCTION, args=[str(marker)])
        try:
            # Written raw as well: a backend may refuse it itself (a broker
            # message without its headers); it ends failed either way.
            self.store_raw_payload(backend, "default", planted.to_json().encode())
            expected_failures = 2
        except NotSupported:
            expected_failures = 1
        backend.enqueue_sync(message(id="normal", name="hostile.record", args=["normal"]))
        ran: list[Any] = []
        pool(backend, self.recording_registry(ran))
        wait_until(lambda: ran == ["normal"], timeout=self.redelivery_timeout, message="the normal task to run")
        failed = {entry.id: entry for entry in self.failed_entries(backend, expected_failures)}
        run_by_a_worker = failed["dotted"]
        assert run_by_a_worker.name == MARKING_FUNCTION
        assert run_by_a_worker.error is not None and "unknown task" in run_by_a_worker.error
        for entry in failed.values():
            self.assert_short_reason(entry)
        assert not marker.exists(), "a name read from storage was imported and called"

    def test_a_forged_pickle_is_never_loaded(
        self, backend: QueueBackend, pool: Callable[..., Any], tmp_path: Path
    ) -> None:
        marker = tmp_path / "unpickled"
        backend.enqueue_sync(message(id="normal-1", name="hostile.record", args=[1]))
        self.plant(backend, "default", forged_pickle(marker))
        backend.enqueue_sync(message(id="normal-2", name="hostile.record", args=[2]))
        ran: list[Any] = []
        pool(backend, self.recording_registry(ran))
        wait_until(lambda: sorted(ran) == [1, 2], timeout=self.redelivery_timeout,
                   message="the normal tasks to run")
        [failed] = self.failed_entries(backend, 1)
        assert failed.error is not None and failed.error.startswith("corrupt payload: ")
        self.assert_short_reason(failed)
        # Reading the failed store (as the admin does) loads nothing either.
        self.optional(backend.list_failed_sync)
        assert not marker.exists(), "a pickle read from storage was loaded"

    # -- tasks that misbehave -----------------------------------------------------------------

    @pytest.mark.parametrize("raised", [KeyboardInterrupt, SystemExit, GeneratorExit],
                             ids=["KeyboardInterrupt", "SystemExit", "GeneratorExit"])
    def test_a_task_raising_base_exception_fails_alone_and_the_worker_goes_on(
        self, backend: QueueBackend, pool: Callable[..., Any], raised: type[BaseException]
    ) -> None:
        ran: list[Any] = []
        registry = self.recording_registry(ran)
        from symphra_django.tasks.base import declare

        def misbehave() -> None:
            raise raised("raised by the task")

        declare(misbehave, name="hostile.misbehave", retry_policy="no_retry", target=registry)
        backend.enqueue_sync(message(id="first", name="hostile.record", args=["first"]))
        backend.enqueue_sync(message(id="bad", name="hostile.misbehave"))
        backend.enqueue_sync(message(id="second", name="hostile.record", args=["second"]))
        pool(backend, registry)
        wait_until(lambda: sorted(ran) == ["first", "second"], timeout=self.redelivery_timeout,
                   message=lambda: f"the tasks around the bad one to run (ran {ran})")
        [failed] = self.failed_entries(backend, 1)
        assert failed.id == "bad"
        assert failed.error is not None and raised.__name__ in failed.error
        # One thread, and it still claims: a task enqueued now runs too.
        backend.enqueue_sync(message(id="third", name="hostile.record", args=["third"]))
        wait_until(lambda: "third" in ran, timeout=self.redelivery_timeout,
                   message="the worker to run a task enqueued after the bad one")
        wait_until(lambda: backend.get_queue_size_sync() == 0, timeout=self.redelivery_timeout,
                   message="every task to be acknowledged")
