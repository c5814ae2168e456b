"""The RabbitMQ backend's ledger on every database engine it may live in.

The ledger's hot statements are hand-written SQL (``rabbitmq_ledger_sql``),
so they run here on SQLite and on the real PostgreSQL and MariaDB servers,
without a broker: the conformance suite covers the backend as a whole.
"""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import OperationalError, connections

from symphra_django.backends import sql_locks
from symphra_django.backends.rabbitmq.ledger import FAILED, IN_FLIGHT, QUEUED, Entry, Ledger
from symphra_django.models import BrokerTask
from tests.support.databases import explain, sqlite_wal_mode, sqlite_write_lock_held, use_database


@pytest.fixture(params=["default", "postgresql", "mariadb"], ids=["sqlite", "postgresql", "mariadb"])
def ledger(request) -> Ledger:
    use_database(request, request.param)
    return Ledger("ns", request.param)


def entries(count: int, due: float = 0.0) -> list[Entry]:
    return [Entry(f"task-{uuid.uuid4().hex}", uuid.uuid4().hex, due) for _ in range(count)]


def states(ledger: Ledger) -> dict[str, str]:
    return dict(BrokerTask.objects.using(ledger.database).values_list("task_id", "state"))


def test_add_accepts_new_ids_and_refuses_queued_ones(ledger):
    first = entries(3)
    assert ledger.add("q", first) == first
    again = [Entry(e.task_id, uuid.uuid4().hex) for e in first]
    assert ledger.add("q", again) == []
    assert set(states(ledger).values()) == {QUEUED}


def test_add_accepts_the_new_ids_of_a_batch_that_also_holds_queued_ones(ledger):
    old, new = entries(2), entries(2)
    ledger.add("q", old)
    mixed = [new[0], Entry(old[0].task_id, uuid.uuid4().hex), new[1], Entry(old[1].task_id, uuid.uuid4().hex)]
    assert sorted(e.task_id for e in ledger.add("q", mixed)) == sorted(e.task_id for e in new)


def test_add_refuses_an_id_in_flight(ledger):
    [entry] = entries(1)
    ledger.add("q", [entry])
    assert ledger.claim("q", [entry], "c1", time.time() + 60) == {entry.task_id}
    assert ledger.add("q", [Entry(entry.task_id, uuid.uuid4().hex)]) == []


def test_add_takes_over_the_row_of_a_failed_id(ledger):
    [entry] = entries(1)
    ledger.add("q", [entry])
    ledger.fail("q", entry.task_id, None)
    retry = Entry(entry.task_id, uuid.uuid4().hex)
    assert ledger.add("q", [retry]) == [retry]
    assert states(ledger) == {entry.task_id: QUEUED}


def test_the_same_id_on_two_queues_or_namespaces_is_two_tasks(ledger):
    [entry] = entries(1)
    assert ledger.add("q", [entry]) == [entry]
    assert ledger.add("other", [entry]) == [entry]
    assert Ledger("ns2", ledger.database).add("q", [entry]) == [entry]


def test_add_and_claim_more_rows_than_one_statement_takes(ledger):
    limit = connections[ledger.database].features.max_query_params or 60_000
    many = entries(min(limit, 2000) + 7)
    assert len(ledger.add("q", many)) == len(many)
    assert ledger.claim("q", many, "c1", time.time() + 60) == {e.task_id for e in many}
    assert ledger.finish("q", [e.task_id for e in many], {"c1"}) == len(many)
    assert states(ledger) == {}


def test_claim_takes_only_the_current_copy(ledger):
    fresh, stale = entries(2)
    ledger.add("q", [fresh, stale])
    outdated = Entry(stale.task_id, uuid.uuid4().hex)
    assert ledger.claim("q", [fresh, outdated], "c1", time.time() + 60) == {fresh.task_id}
    assert states(ledger) == {fresh.task_id: IN_FLIGHT, stale.task_id: QUEUED}


def test_a_second_claim_of_the_same_copy_takes_nothing(ledger):
    batch = entries(2)
    ledger.add("q", batch)
    assert ledger.claim("q", batch, "c1", time.time() + 60) == {e.task_id for e in batch}
    assert ledger.claim("q", batch, "c2", time.time() + 60) == set()


def test_finish_deletes_only_rows_held_under_the_given_claims(ledger):
    mine, theirs = entries(2)
    ledger.add("q", [mine, theirs])
    ledger.claim("q", [mine], "c1", time.time() + 60)
    ledger.claim("q", [theirs], "c2", time.time() + 60)
    assert ledger.finish("q", [mine.task_id, theirs.task_id], {"c1"}) == 1
    assert states(ledger) == {theirs.task_id: IN_FLIGHT}


def test_due_count_counts_due_rows_and_expired_leases_only(ledger):
    now = time.time()
    due, later, held, expired = entries(1, now - 1) + entries(1, now + 3600) + entries(2, now - 1)
    ledger.add("q", [due, later, held, expired])
    ledger.claim("q", [held], "c1", now + 60)
    ledger.claim("q", [expired], "c2", now - 0.5)
    assert ledger.due_count("q", now) == 2
    assert ledger.due_count("other", now) == 0


def test_a_failed_row_is_neither_due_nor_claimable(ledger):
    [entry] = entries(1)
    ledger.add("q", [entry])
    ledger.fail("q", entry.task_id, None)
    assert ledger.due_count("q", time.time()) == 0
    assert ledger.claim("q", [entry], "c1", time.time() + 60) == set()
    assert states(ledger) == {entry.task_id: FAILED}


def test_a_claim_finds_its_rows_by_id_not_by_scanning_the_queued_backlog(ledger):
    backlog = entries(3000)
    ledger.add("q", backlog)
    params = ["c1", 1.0, 1.0, "ns", "q", *(e.task_id for e in backlog[:32]), *(e.token for e in backlog[:32])]
    plan = explain(ledger.database, ledger.sql.claim(32), params, "symphra_broker_task")
    assert "state_idx" not in plan, plan


# -- SQLite's write lock ---------------------------------------------------------------


@pytest.fixture
def sqlite_ledger(request) -> Ledger:
    use_database(request, "default")
    return Ledger("ns", "default")


@pytest.fixture
def busy_timeouts(monkeypatch) -> list[float]:
    """Every busy timeout the lock waiting sets, in order."""
    timeouts: list[float] = []
    set_busy_timeout = sql_locks._set_busy_timeout
    monkeypatch.setattr(sql_locks, "_set_busy_timeout", lambda c, s: (timeouts.append(s), set_busy_timeout(c, s)))
    return timeouts


def test_an_acknowledgement_waits_for_sqlites_write_lock_in_its_own_short_steps(sqlite_ledger, busy_timeouts):
    # SQLite's busy handler would sleep up to 100 ms between looks: a window
    # in which the finished tasks of a killed worker stay unacknowledged.
    [entry] = entries(1)
    sqlite_ledger.add("q", [entry])
    sqlite_ledger.claim("q", [entry], "c1", time.time() + 60)
    busy_timeouts.clear()  # those of the add and the claim
    with sqlite_write_lock_held("default", release_after=0.3):
        assert sqlite_ledger.finish("q", [entry.task_id], {"c1"}) == 1
    assert states(sqlite_ledger) == {}
    # The engine's handler was off while the ledger waited, and the
    # connection's configured timeout (OPTIONS["timeout"]) is back after.
    assert busy_timeouts == [0, sql_locks.busy_timeout(connections["default"])]


def test_a_sqlite_lock_held_past_the_connections_timeout_reaches_every_writer(sqlite_ledger, monkeypatch):
    [entry] = entries(1)
    sqlite_ledger.add("q", [entry])
    monkeypatch.setitem(connections["default"].settings_dict["OPTIONS"], "timeout", 0.1)
    with sqlite_write_lock_held("default"), pytest.raises(OperationalError, match="locked"):
        sqlite_ledger.claim("q", [entry], "c1", time.time() + 60)
    assert states(sqlite_ledger) == {entry.task_id: QUEUED}


def test_a_producers_insert_waits_for_sqlites_write_lock_in_its_own_short_steps(sqlite_ledger, busy_timeouts):
    # A web request enqueueing while the workers claim and acknowledge.
    first, second = entries(2)
    with sqlite_write_lock_held("default", release_after=0.3):
        assert sqlite_ledger.add("q", [first, second]) == [first, second]
    assert states(sqlite_ledger) == {first.task_id: QUEUED, second.task_id: QUEUED}
    assert busy_timeouts == [0, sql_locks.busy_timeout(connections["default"])]


def test_an_insert_run_again_after_a_lock_error_accepts_the_rows_it_wrote(sqlite_ledger):
    # What poll_for_lock does when a later chunk met the lock: the rows of
    # the first try are there with their tokens.
    batch = entries(3)
    assert sqlite_ledger.add("q", batch[:2]) == batch[:2]
    assert sqlite_ledger.add("q", batch) == batch


# -- upkeep --------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["default", "postgresql"], ids=["sqlite", "postgresql"])
def test_workers_fold_the_ledgers_log_back_only_where_it_is_sqlite(request, alias):
    from symphra_django.backends.rabbitmq.backend import RabbitMQBackend

    use_database(request, alias)
    backend = RabbitMQBackend(database=alias)
    assert backend.wants_upkeep == (alias == "default")


def test_the_upkeep_checkpoints_the_ledgers_sqlite_log(sqlite_ledger):
    from symphra_django.backends import sqlite_wal
    from symphra_django.backends.rabbitmq.backend import RabbitMQBackend

    with sqlite_wal_mode("default"):
        backend = RabbitMQBackend(database="default")
        sqlite_ledger.add("q", entries(20))
        # It saw the log grow since its last look: the next look is soon.
        assert backend.upkeep() == sqlite_wal.CHECKPOINT_BUSY
        assert backend.upkeep() == sqlite_wal.CHECKPOINT_IDLE
