"""The worker registry's rules (``save_worker``, ``load_workers``,
``delete_worker``, ``request_worker_stop``): part of
:class:`~symphra_django.testing.BackendContractTests`.

The registry is optional: a backend that implements none of it skips these
rules, and the admin and the health probes say "not reported by this
backend" for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from symphra_django.backends.base import NotSupported, QueueBackend
from symphra_django.backends.workers import ALIVE, GONE, RECORD_LIMIT, UNREADABLE, WorkerRecord, list_workers
from symphra_django.testing.harness import ContractHarness
from symphra_django.testing.waiting import wait_for_time, wait_until

OpenBackend = Callable[..., QueueBackend]

#: A ttl long enough never to run out during a rule.
LONG_TTL = 600.0


def worker(worker_id: str, **fields: object) -> WorkerRecord:
    """A worker's record as ``runscheduler`` writes it, heard from now."""
    values: dict[str, object] = {
        "host": "host-1", "pid": 4242, "version": "1.0", "backend": "contract", "queues": ["default"],
        "threads": 4, "started_at": time.time() - 60, "heartbeat_at": time.time(),
    }
    values.update(fields)
    return WorkerRecord(worker_id=worker_id, **values)  # type: ignore[arg-type]


class WorkerRegistryRules(ContractHarness):
    """The worker registry: which processes work for a backend, and what
    each one runs now.

    A record saved by one instance is listed by any other (another process,
    the admin), replaced by the next save of the same worker id, removed by
    ``delete_worker`` and dropped once its ``ttl`` has passed. A stop
    request is answered by the worker's next ``save_worker`` (True) until a
    fresh registration clears it.

    Records are read from storage other programs can write to: a corrupt,
    forged or huge record is listed as unreadable, with the reason, and the
    other records are listed as usual (:meth:`store_raw_worker` plants one).
    """

    def store_raw_worker(self, backend: QueueBackend, worker_id: str, raw: str) -> None:
        """Put ``raw`` in ``backend``'s worker registry as the record of
        ``worker_id``, as a foreign program would. By default through
        ``save_worker`` itself, which stores the text it is given; override
        it to write with the storage's own client."""
        backend.save_worker_sync(worker_id, raw, LONG_TTL)

    def registry(self, backend: QueueBackend) -> QueueBackend:
        """``backend``, or a skip if it does not keep the worker registry."""
        if not backend.reports_workers:
            pytest.skip(f"{type(backend).__name__} does not keep the worker registry")
        return backend

    def test_a_saved_worker_is_listed_by_another_instance_with_what_it_said(
        self, open_backend: OpenBackend
    ) -> None:
        writer = self.registry(open_backend())
        record = worker("host-1:4242", running_count=1)
        assert writer.save_worker_sync(record.worker_id, record.to_json(), LONG_TTL, fresh=True) is False
        [listed] = list_workers(open_backend()).workers
        assert listed.unreadable is None
        assert (listed.worker_id, listed.host, listed.pid, listed.queues, listed.threads) == (
            "host-1:4242", "host-1", 4242, ["default"], 4,
        )
        assert listed.state(record.heartbeat_at, timeout=30) == ALIVE

    def test_saving_again_replaces_the_record_and_the_newest_heartbeat_comes_first(
        self, backend: QueueBackend
    ) -> None:
        self.registry(backend)
        for worker_id, beat in (("a:1", 100.0), ("b:2", 200.0), ("a:1", 300.0)):
            record = worker(worker_id, heartbeat_at=beat)
            backend.save_worker_sync(worker_id, record.to_json(), LONG_TTL)
        listed = list_workers(backend).workers
        assert [(w.worker_id, w.heartbeat_at) for w in listed] == [("a:1", 300.0), ("b:2", 200.0)]
        assert listed[1].state(now=300.0, timeout=30) == GONE

    def test_a_stop_request_is_answered_by_the_next_save_until_the_worker_registers_again(
        self, open_backend: OpenBackend
    ) -> None:
        backend = self.registry(open_backend())
        record = worker("w:1")
        backend.save_worker_sync("w:1", record.to_json(), LONG_TTL, fresh=True)
        admin = open_backend()
        assert admin.request_worker_stop_sync("w:1") is True
        assert admin.request_worker_stop_sync("nobody:0") is False
        assert [w.stop_requested for w in list_workers(admin).workers] == [True]
        assert backend.save_worker_sync("w:1", record.to_json(), LONG_TTL) is True
        assert backend.save_worker_sync("w:1", record.to_json(), LONG_TTL) is True
        assert backend.save_worker_sync("w:1", record.to_json(), LONG_TTL, fresh=True) is False
        assert backend.save_worker_sync("w:1", record.to_json(), LONG_TTL) is False

    def test_a_deleted_worker_is_no_longer_listed(self, backend: QueueBackend) -> None:
        self.registry(backend)
        for worker_id in ("a:1", "b:2"):
            backend.save_worker_sync(worker_id, worker(worker_id).to_json(), LONG_TTL)
        assert backend.delete_worker_sync("a:1") is True
        assert backend.delete_worker_sync("a:1") is False
        assert [w.worker_id for w in list_workers(backend).workers] == ["b:2"]

    def test_a_record_not_saved_again_within_its_ttl_is_dropped(self, backend: QueueBackend) -> None:
        self.registry(backend)
        # The long-lived record first: the short one must not cut its life short.
        backend.save_worker_sync("lives:2", worker("lives:2").to_json(), LONG_TTL)
        saved = time.time()
        backend.save_worker_sync("dies:1", worker("dies:1").to_json(), self.short_lease)
        assert backend.request_worker_stop_sync("dies:1") is True
        wait_until(lambda: [w.worker_id for w in list_workers(backend).workers] == ["lives:2"],
                   timeout=self.redelivery_timeout, message="the expired record to be dropped")
        assert backend.request_worker_stop_sync("dies:1") is False
        # Storage that expires in whole seconds has had the time to: the
        # long-lived record is still there.
        wait_for_time(saved + self.short_lease + 1.5)
        assert [w.worker_id for w in list_workers(backend).workers] == ["lives:2"]

    def test_a_corrupt_forged_or_huge_record_is_listed_as_unreadable_and_the_others_as_usual(
        self, backend: QueueBackend
    ) -> None:
        self.registry(backend)
        good = worker("good:1")
        backend.save_worker_sync("good:1", good.to_json(), LONG_TTL)
        forged = json.loads(good.to_json())
        planted = {
            "not-json:1": "{'host': 'x'",
            "a-list:2": "[1, 2, 3]",
            "wrong-types:3": json.dumps({**forged, "pid": "4242", "queues": "default"}),
            "not-finite:4": json.dumps({**forged, "heartbeat_at": 1e308 * 10}),
            "running-garbage:5": json.dumps({**forged, "running": [1, None, "x"]}),
            "deep:6": "[" * 100_000 + "]" * 100_000,
            "huge:7": json.dumps({**forged, "host": "h" * (RECORD_LIMIT + 10)}),
        }
        for worker_id, raw in planted.items():
            try:
                self.store_raw_worker(backend, worker_id, raw)
            except NotSupported as exc:
                pytest.skip(str(exc))
        listed = {w.worker_id: w for w in list_workers(backend).workers}
        assert listed["good:1"].state(good.heartbeat_at, timeout=30) == ALIVE
        assert listed["good:1"].host == "host-1"
        for worker_id in planted:
            assert listed[worker_id].state(good.heartbeat_at, timeout=30) == UNREADABLE, worker_id
            reason = listed[worker_id].unreadable or ""
            assert 0 < len(reason) < 300, (worker_id, reason)
