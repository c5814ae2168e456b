"""The database backend beyond the shared contract: query plans, locking,
engines, settings, time zones and history.

Tests parametrized over ``engine`` run on SQLite (the ``default`` alias) and
on the real PostgreSQL and MariaDB servers.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, OperationalError, connections, transaction
from django.db.transaction import TransactionManagementError
from django.test import override_settings

from symphra_django.backends.database.backend import DatabaseBackend, SQLiteBackend
from symphra_django.backends.handler import build_backend
from symphra_django.messages import DELAYED, READY, TaskMessage
from symphra_django.models import QueuedTask
from tests.support.databases import explain, sqlite_wal_mode, sqlite_write_lock_held, use_database


@pytest.fixture(params=["default", "postgresql", "mariadb"], ids=["sqlite", "postgresql", "mariadb"])
def engine(request) -> str:
    use_database(request, request.param)
    return request.param


@pytest.fixture
def sqlite_db(request) -> str:
    use_database(request, "default")
    return "default"


def fill(backend: DatabaseBackend, count: int, queue: str = "default") -> None:
    backend.enqueue_many_sync([TaskMessage(name="tests.noop", queue=queue) for _ in range(count)])


# -- query plans ------------------------------------------------------------------


def test_the_claim_reads_the_claim_index_in_order(engine):
    backend = DatabaseBackend(database=engine)
    fill(backend, 2000, queue="other")
    fill(backend, 200)
    dialect, connection = backend.dialect, connections[engine]
    now = backend._db_time(connection, time.time())
    if connection.vendor == "sqlite":
        plan = explain(engine, dialect.claim(), ["t", now, now, "default", now, 32], "symphra_task_queue")
        assert "symphra_claim_idx" in plan
        assert "TEMP B-TREE" not in plan  # no sort: the index gives the order
    else:
        plan = explain(engine, dialect.claim_select(), ["default", now, 32], "symphra_task_queue")
        assert "symphra_claim_idx" in plan
        assert "filesort" not in plan and "Sort" not in plan


def test_lease_expiry_reads_the_lease_index(engine):
    backend = DatabaseBackend(database=engine)
    fill(backend, 2000)
    backend.dequeue_sync(500, lease_seconds=600)
    now = backend._db_time(connections[engine], time.time())
    plan = explain(engine, backend.dialect.expired_leases(), [now, 100], "symphra_task_queue")
    assert "symphra_lease_idx" in plan


def test_acknowledgements_find_their_rows_by_primary_key_not_by_scanning_leases(engine):
    # SQLite has no statistics on a queue table: its planner took the partial
    # lease index for "in flight, not expired, id IN (...)" and every
    # acknowledgement read all leased rows while holding the write lock.
    backend = DatabaseBackend(database=engine)
    fill(backend, 2000)
    claimed = backend.dequeue_sync(500, lease_seconds=600)
    now = backend._db_time(connections[engine], time.time())
    ids = [task.id for task in claimed[:4]]
    for statement, params in (
        (backend.dialect.finish(4, True), [now, now, claimed[0].lease_token, now, *ids]),
        (backend.dialect.finish(4, False), [claimed[0].lease_token, now, *ids]),
    ):
        plan = explain(engine, statement, params, "symphra_task_queue")
        by_id = {
            "sqlite": "USING INDEX sqlite_autoindex_symphra_task_queue_1 (id=?)",
            "postgresql": "Index Cond: ((id)::text = ANY",
            "mysql": "PRIMARY",
        }[connections[engine].vendor]
        assert by_id in plan, plan
        if connections[engine].vendor == "sqlite":
            assert "symphra_lease_idx" not in plan, plan


def test_the_lease_index_holds_in_flight_rows_only_where_the_engine_has_partial_indexes(engine):
    connection = connections[engine]
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "symphra_task_queue")
        assert constraints["symphra_lease_idx"]["columns"] == ["status", "lease_expires"]
        definition = {
            "sqlite": "SELECT sql FROM sqlite_master WHERE name = 'symphra_lease_idx'",
            "postgresql": "SELECT indexdef FROM pg_indexes WHERE indexname = 'symphra_lease_idx'",
        }.get(connection.vendor)
        if definition is None:  # MySQL/MariaDB: no partial indexes, the full one serves
            assert not connection.features.supports_partial_indexes
            return
        cursor.execute(definition)
        [sql] = cursor.fetchone()
    assert "WHERE" in sql.upper() and "'in_flight'" in sql


# -- concurrency --------------------------------------------------------------------


def busy_timeout_ms(connection) -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        return cursor.fetchone()[0]


def test_a_locked_sqlite_database_is_waited_for_and_the_connections_busy_timeout_kept(sqlite_db):
    backend = DatabaseBackend(database=sqlite_db)
    connection = connections[sqlite_db]
    with sqlite_write_lock_held(sqlite_db, release_after=0.3):
        assert backend.enqueue_sync(TaskMessage(name="tests.noop", id="waited")) is True
    assert backend.get_status_sync("waited") == READY
    # The backend waits in its own short steps; the task code sharing this
    # connection still gets the configured timeout (OPTIONS["timeout"]: 20 s).
    assert busy_timeout_ms(connection) == 20_000


def test_a_claim_on_sqlite_with_nothing_due_waits_for_no_write_lock(sqlite_db, monkeypatch):
    # An idle worker polls: a write statement would queue behind (and hold
    # up) every producer's insert, even when it matches no row.
    backend = DatabaseBackend(database=sqlite_db, keep_history=False)
    backend.enqueue_sync(TaskMessage(name="tests.noop", id="later", scheduled_time=time.time() + 3600))
    connection = connections[sqlite_db]
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.1)
    with sqlite_write_lock_held(sqlite_db):
        assert backend.dequeue_sync(10) == []
    backend.enqueue_sync(TaskMessage(name="tests.noop", id="now"))
    assert [t.id for t in backend.dequeue_sync(10)] == ["now"]


def test_a_sqlite_lock_held_past_the_connections_timeout_is_raised(sqlite_db, monkeypatch):
    backend = DatabaseBackend(database=sqlite_db)
    connection = connections[sqlite_db]
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.1)
    with sqlite_write_lock_held(sqlite_db), pytest.raises(OperationalError, match="locked"):
        backend.enqueue_sync(TaskMessage(name="tests.noop", id="refused"))
    assert busy_timeout_ms(connection) == 100
    assert backend.get_status_sync("refused") is None


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"], indirect=True)
def test_a_claim_skips_rows_locked_by_another_claim_instead_of_waiting(engine):
    backend = DatabaseBackend(database=engine)
    fill(backend, 10)
    # By primary key: InnoDB locks every row a scan reads, not only those kept.
    locked_ids = list(QueuedTask.objects.using(engine).order_by("seq").values_list("pk", flat=True)[:5])
    locked, release = threading.Event(), threading.Event()

    def hold_first_five() -> None:
        try:
            with transaction.atomic(using=engine):
                list(QueuedTask.objects.using(engine).select_for_update().filter(pk__in=locked_ids))
                locked.set()
                release.wait(10)
        finally:
            connections[engine].close()

    holder = threading.Thread(target=hold_first_five)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        claimed = backend.dequeue_sync(10)
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join()
    assert len(claimed) == 5
    assert not {t.id for t in claimed} & set(locked_ids)
    assert waited < 5  # it did not wait for the lock (its timeout is far longer)


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"], indirect=True)
def test_batch_claims_from_many_threads_are_disjoint_and_complete(engine):
    backend = DatabaseBackend(database=engine)
    fill(backend, 600)
    seen: list[list[str]] = [[] for _ in range(6)]

    def work(index: int) -> None:
        try:
            while batch := backend.dequeue_sync(32, lease_seconds=60):
                seen[index].extend(t.id for t in batch)
                assert backend.acknowledge_many_sync(batch) == len(batch)
        finally:
            connections[engine].close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    ids = [task_id for part in seen for task_id in part]
    assert len(ids) == len(set(ids)) == 600


# -- options ----------------------------------------------------------------------------


def test_symphra_schedulers_sqlite_name_is_the_same_backend():
    assert SQLiteBackend is DatabaseBackend


def test_table_name_other_than_the_models_table_is_refused():
    with pytest.raises(ImproperlyConfigured, match="table_name 'task_queue' is not supported"):
        build_backend("q", {"BACKEND": "sqlite", "OPTIONS": {"table_name": "task_queue"}})


def test_table_name_of_the_models_table_is_accepted():
    backend = build_backend("q", {"BACKEND": "database", "OPTIONS": {"table_name": "symphra_task_queue"}})
    assert isinstance(backend, DatabaseBackend)


def test_an_unknown_database_alias_is_refused_with_the_configured_ones():
    with pytest.raises(ImproperlyConfigured, match="'nope' is not in settings.DATABASES"):
        build_backend("q", {"BACKEND": "database", "OPTIONS": {"database": "nope"}})


def test_without_history_an_acknowledged_task_leaves_no_row(sqlite_db):
    backend = DatabaseBackend(database=sqlite_db, keep_history=False)
    fill(backend, 3)
    assert backend.acknowledge_many_sync(backend.dequeue_sync(3)) == 3
    assert QueuedTask.objects.count() == 0


def test_an_acknowledged_task_stays_as_done_history(sqlite_db):
    backend = DatabaseBackend(database=sqlite_db)
    backend.enqueue_sync(TaskMessage(name="tests.noop", id="kept"))
    backend.acknowledge_sync(backend.dequeue_sync(1)[0])
    row = QueuedTask.objects.get(pk="kept")
    assert (row.status, row.lease_token) == ("done", None)
    assert row.finished_at is not None


def test_it_works_without_time_zone_support(engine):
    with override_settings(USE_TZ=False, TIME_ZONE="Europe/Paris"):
        backend = DatabaseBackend(database=engine)
        backend.enqueue_sync(TaskMessage(name="tests.noop", id="later"), time.time() + 3600)
        backend.enqueue_sync(TaskMessage(name="tests.noop", id="now"))
        assert backend.get_status_sync("later") == DELAYED
        [got] = backend.dequeue_sync(10)
        assert got.id == "now"
        assert backend.acknowledge_sync(got) is True
        stats = backend.get_stats_sync()
        assert (stats.ready, stats.delayed) == (0, 1)


# -- statements on SQLite's own connection -------------------------------------------


@pytest.mark.parametrize(
    "epoch", [0.0, 1_796_250_743.0, 1_796_250_743.058_367_5, 1_796_250_743.999_999_6, 4_102_444_800.5]
)
@pytest.mark.parametrize("zone", [None, "Europe/Paris"])
def test_times_are_bound_as_djangos_datetimefield_would_bind_them(sqlite_db, epoch, zone, monkeypatch):
    from symphra_django.utils.times import model_datetime

    connection = connections[sqlite_db]

    def forget_zone() -> None:
        for cached in ("timezone", "timezone_name"):
            connection.__dict__.pop(cached, None)

    monkeypatch.setitem(connection.settings_dict, "TIME_ZONE", zone)
    forget_zone()
    try:
        expected = connection.ops.adapt_datetimefield_value(model_datetime(epoch))
        assert DatabaseBackend(database=sqlite_db)._db_time(connection, epoch) == expected
    finally:
        monkeypatch.undo()
        forget_zone()


def test_statements_are_seen_by_the_connections_execute_wrappers(sqlite_db):
    backend = DatabaseBackend(database=sqlite_db)
    seen: list[str] = []

    def record(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connections[sqlite_db].execute_wrapper(record):
        backend.enqueue_sync(TaskMessage(name="tests.noop", id="watched"))
        backend.acknowledge_sync(backend.dequeue_sync(1)[0])
    # insert; leases to expire?; anything due?; claim; acknowledge
    assert [sql.split()[0] for sql in seen if "symphra_task_queue" in sql] == ["INSERT", "SELECT", "SELECT", "UPDATE", "UPDATE"]


def test_statements_are_logged_with_the_connections_queries_under_debug(sqlite_db):
    backend = DatabaseBackend(database=sqlite_db)
    connection = connections[sqlite_db]
    connection.force_debug_cursor = True
    try:
        backend.enqueue_sync(TaskMessage(name="tests.noop", id="logged"))
    finally:
        connection.force_debug_cursor = False
    assert any("INSERT INTO" in query["sql"] and "logged" in query["sql"] for query in connection.queries)


def test_an_enqueue_after_a_failed_statement_in_the_callers_transaction_is_refused(sqlite_db):
    backend = DatabaseBackend(database=sqlite_db)
    with pytest.raises(TransactionManagementError), transaction.atomic(using=sqlite_db):
        try:
            with transaction.atomic(using=sqlite_db, savepoint=False), connections[sqlite_db].cursor() as cursor:
                cursor.execute("SELECT * FROM no_such_table")
        except DatabaseError:
            pass
        backend.enqueue_sync(TaskMessage(name="tests.noop", id="refused"))
    assert backend.get_status_sync("refused") is None


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"], indirect=True)
def test_a_session_ended_by_the_server_is_reopened_with_one_log_line(engine, caplog):
    backend = DatabaseBackend(database=engine)
    connection = connections[engine]
    pid_query, kill = {
        "postgresql": ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend(%s)"),
        "mysql": ("SELECT CONNECTION_ID()", "KILL %s"),
    }[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(pid_query)
        [pid] = cursor.fetchone()

    def terminate() -> None:
        try:
            with connections[engine].cursor() as cursor:
                cursor.execute(kill, [pid])
        finally:
            connections[engine].close()

    killer = threading.Thread(target=terminate)
    killer.start()
    killer.join()
    with caplog.at_level("WARNING", logger="symphra_django"):
        assert backend.enqueue_sync(TaskMessage(name="tests.noop", id="after-drop")) is True
    assert [r.message for r in caplog.records if "reconnecting" in r.message] != []
    assert backend.get_status_sync("after-drop") == READY


# -- upkeep: SQLite's write-ahead log ---------------------------------------------------


@pytest.fixture
def wal_db(sqlite_db):
    """The SQLite test database in WAL mode for one test, then back."""
    with sqlite_wal_mode(sqlite_db):
        yield sqlite_db


def log_state(alias: str) -> tuple[int, int]:
    """(frames in the log, frames copied into the database), as a second connection sees them."""
    path = connections[alias].settings_dict["NAME"]
    with sqlite3.connect(path) as other:
        _busy, frames, copied = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    other.close()
    return frames, copied


def test_workers_fold_sqlites_log_back_so_that_no_claim_commit_has_to(wal_db):
    from symphra_django.backends import sqlite_wal as wal

    backend = DatabaseBackend(database=wal_db)
    assert backend.wants_upkeep
    fill(backend, 50)
    claimed = backend.dequeue_sync(50)
    backend.acknowledge_many_sync(claimed)
    assert backend.upkeep() == wal.CHECKPOINT_BUSY  # the log grew since the last look
    frames, copied = log_state(wal_db)
    assert frames > 0 and copied == frames
    # Copied whole, the log starts again from its beginning at the next
    # write instead of growing towards SQLite's own checkpoint in a commit.
    fill(backend, 1)
    assert log_state(wal_db)[0] < frames


def test_upkeep_looks_less_and_less_often_while_the_log_does_not_grow(wal_db):
    from symphra_django.backends import sqlite_wal as wal

    backend = DatabaseBackend(database=wal_db)
    fill(backend, 5)
    assert backend.upkeep() == wal.CHECKPOINT_BUSY
    waits = [backend.upkeep() for _ in range(6)]
    assert waits[0] == wal.CHECKPOINT_IDLE
    assert waits == sorted(waits) and waits[-1] == wal.CHECKPOINT_IDLE_MAX
    fill(backend, 5)
    assert backend.upkeep() == wal.CHECKPOINT_BUSY
    assert backend.upkeep() == wal.CHECKPOINT_IDLE  # idle again: from the start


def test_outside_wal_mode_upkeep_has_nothing_to_fold(sqlite_db):
    from symphra_django.backends import sqlite_wal as wal

    assert DatabaseBackend(database=sqlite_db).upkeep() == wal.CHECKPOINT_NO_WAL


def test_only_sqlite_asks_for_upkeep(engine):
    assert DatabaseBackend(database=engine).wants_upkeep == (connections[engine].vendor == "sqlite")
