"""The SQL of the database backend, one dialect per engine family.

The hot path (enqueue, claim, acknowledge) runs hand-written statements
instead of the ORM: no model instances, one round trip per batch. Table and
column names come from ``QueuedTask._meta`` quoted by the connection; every
value is a query parameter. Status values are constants of this module.

* SQLite claims with one ``UPDATE … WHERE id IN (SELECT … LIMIT n)
  RETURNING``: a single write statement is atomic and never upgrades a read
  transaction to a write one (the "database is locked" trap).
* PostgreSQL runs the same statement with ``FOR UPDATE SKIP LOCKED`` in the
  sub-select, so concurrent workers claim disjoint rows without waiting.
* MySQL/MariaDB cannot ``LIMIT`` inside ``IN (…)`` nor return rows from an
  ``UPDATE``: it selects ``FOR UPDATE SKIP LOCKED`` then updates by id, in one
  transaction.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper

from symphra_django.backends.sql_names import TableNames
from symphra_django.models import QueuedTask
from symphra_django.utils.times import model_datetime

# str() of a choices member is its value (``.value`` would be the same, but
# without django-stubs the type checker sees the (value, label) tuple).
READY = str(QueuedTask.Status.READY)
IN_FLIGHT = str(QueuedTask.Status.IN_FLIGHT)
FAILED = str(QueuedTask.Status.FAILED)
DONE = str(QueuedTask.Status.DONE)

#: Columns written by enqueue, in parameter order.
INSERT_FIELDS = (
    "id", "queue", "task_name", "status", "priority", "scheduled_time", "seq",
    "payload", "attempts", "max_attempts", "created_at", "updated_at",
)
#: Columns reset when a done/failed id is enqueued again.
RESET_FIELDS = ("lease_token", "lease_expires", "last_error", "traceback", "finished_at")
#: What a claim returns per row.
CLAIM_FIELDS = ("id", "payload", "attempts", "seq")

SUPPORTED_VENDORS = ("sqlite", "postgresql", "mysql")
#: The largest attempts count every engine's attempts column holds.
MAX_ATTEMPTS_COUNT = 2**31 - 1


class Dialect:
    """Statements for one connection's engine, built once per backend.

    Statement builders are cached (``functools.cache``): a backend keeps its
    dialect for the life of the process, and the hot path reuses the strings.
    """

    #: Appended to the claim's row selection.
    lock_clause = ""
    #: Whether the claim is ``UPDATE … RETURNING`` (else select, then update).
    claim_returns = True
    #: Whether enqueue is one upsert (else insert-ignore plus a fallback update).
    upserts = True
    #: How a claim reads the payload column ({} is the quoted column).
    payload_read = "{}"
    #: Whether a claim takes a database-wide write lock even when nothing is
    #: due (SQLite): the backend then looks for a due task with a read first.
    claims_lock_database = False

    #: Whether the backend may run these statements on the DB-API connection
    #: itself (``NativeCursor``) rather than through Django's cursor wrapper.
    runs_natively = False
    #: How a lease's conditions name the status column ({} is the quoted
    #: column) in statements that find their rows by id.
    held_status = "{}"

    def db_time(self, connection: BaseDatabaseWrapper, epoch: float) -> Any:
        """Epoch seconds as the query parameter Django would bind for a
        ``DateTimeField`` on this connection."""
        return connection.ops.adapt_datetimefield_value(model_datetime(epoch))

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        names = TableNames(connection, QueuedTask)
        self.table, self.col, self.max_params = names.table, names.col, names.max_params
        c = self.col
        # A held lease: the row is in flight under this token and not expired.
        self.held = (
            f"{self.held_status.format(c['status'])} = '{IN_FLIGHT}' AND {c['lease_token']} = %s "
            f"AND {c['lease_expires']} > %s"
        )
        self.select_due = (
            f"SELECT {c['id']} FROM {self.table} WHERE {c['queue']} = %s "
            f"AND {c['status']} = '{READY}' AND {c['scheduled_time']} <= %s "
            f"ORDER BY {c['priority']} DESC, {c['scheduled_time']}, {c['seq']} "
            f"LIMIT %s{self.lock_clause}"
        )
        # What a claim returns: one row with a payload that is not text must
        # not make the fetch fail for the whole batch (see SQLiteDialect).
        self.claim_fields = ", ".join(
            self.payload_read.format(c[f]) if f == "payload" else c[f] for f in CLAIM_FIELDS
        )
        # Attempts stop counting at the column's top (a row written by
        # another program may hold it): an overflow would fail the whole
        # claim, every time, and block the queue behind that one row.
        self.lease_set = (
            f"{c['status']} = '{IN_FLIGHT}', {c['attempts']} = CASE WHEN {c['attempts']} < {MAX_ATTEMPTS_COUNT} "
            f"THEN {c['attempts']} + 1 ELSE {c['attempts']} END, "
            f"{c['lease_token']} = %s, {c['lease_expires']} = %s, {c['updated_at']} = %s"
        )

    # -- enqueue -------------------------------------------------------------

    @cache
    def insert(self, rows: int) -> str:
        """Insert ``rows`` rows; a done/failed id is overwritten, a ready or
        in-flight one is left alone (C2)."""
        c = self.col
        values = ", ".join(["(" + ", ".join(["%s"] * len(INSERT_FIELDS)) + ")"] * rows)
        columns = ", ".join(c[f] for f in INSERT_FIELDS)
        sets = ", ".join(
            [f"{c[f]} = excluded.{c[f]}" for f in INSERT_FIELDS if f != "id"]
            + [f"{c[f]} = NULL" for f in RESET_FIELDS]
        )
        return (
            f"INSERT INTO {self.table} ({columns}) VALUES {values} "
            f"ON CONFLICT ({c['id']}) DO UPDATE SET {sets} "
            f"WHERE {self.table}.{c['status']} IN ('{DONE}', '{FAILED}')"
        )

    @cache
    def reenqueue(self) -> str:
        """Overwrite a done/failed row (parameters: INSERT_FIELDS minus id, then id)."""
        c = self.col
        sets = ", ".join(
            [f"{c[f]} = %s" for f in INSERT_FIELDS if f != "id"]
            + [f"{c[f]} = NULL" for f in RESET_FIELDS]
        )
        return (
            f"UPDATE {self.table} SET {sets} WHERE {c['id']} = %s "
            f"AND {c['status']} IN ('{DONE}', '{FAILED}')"
        )

    def rows_per_insert(self) -> int:
        return max(1, min(500, self.max_params // len(INSERT_FIELDS)))

    # -- claim ----------------------------------------------------------------

    @cache
    def claim(self) -> str:
        """Params: token, expires, now, queue, now, limit."""
        c = self.col
        return (
            f"UPDATE {self.table} SET {self.lease_set} "
            f"WHERE {c['id']} IN ({self.select_due}) RETURNING {self.claim_fields}"
        )

    def claim_select(self) -> str:
        """Params: queue, now, limit (dialects without ``UPDATE … RETURNING``)."""
        c = self.col
        return self.select_due.replace(f"SELECT {c['id']} ", f"SELECT {self.claim_fields} ", 1)

    @cache
    def claim_update(self, rows: int) -> str:
        """Params: token, expires, now, then the ids."""
        return (
            f"UPDATE {self.table} SET {self.lease_set} "
            f"WHERE {self.col['id']} IN ({', '.join(['%s'] * rows)})"
        )

    @cache
    def expired_leases(self) -> str:
        """Params: now, limit. Served by ``symphra_lease_idx``."""
        c = self.col
        return (
            f"SELECT {c['id']}, {c['lease_token']}, {c['attempts']}, {c['max_attempts']} "
            f"FROM {self.table} WHERE {c['status']} = '{IN_FLIGHT}' "
            f"AND {c['lease_expires']} <= %s ORDER BY {c['lease_expires']} LIMIT %s"
        )

    @cache
    def release_expired(self) -> str:
        """Params: now, id, token. Back to ready, whoever else got there first."""
        c = self.col
        return (
            f"UPDATE {self.table} SET {c['status']} = '{READY}', "
            f"{c['lease_token']} = NULL, {c['lease_expires']} = NULL, {c['updated_at']} = %s "
            f"WHERE {c['id']} = %s AND {c['status']} = '{IN_FLIGHT}' AND {c['lease_token']} = %s"
        )

    @cache
    def fail_expired(self) -> str:
        """Params: error, now, now, id, token."""
        c = self.col
        return (
            f"UPDATE {self.table} SET {c['status']} = '{FAILED}', {c['last_error']} = %s, "
            f"{c['traceback']} = NULL, {c['lease_token']} = NULL, {c['lease_expires']} = NULL, "
            f"{c['finished_at']} = %s, {c['updated_at']} = %s "
            f"WHERE {c['id']} = %s AND {c['status']} = '{IN_FLIGHT}' AND {c['lease_token']} = %s"
        )

    # -- answers to a lease ---------------------------------------------------

    @cache
    def finish(self, rows: int, keep_history: bool) -> str:
        """Params: [now, now,] token, now, then the ids."""
        c = self.col
        where = f"{self.held} AND {c['id']} IN ({', '.join(['%s'] * rows)})"
        if not keep_history:
            return f"DELETE FROM {self.table} WHERE {where}"
        return (
            f"UPDATE {self.table} SET {c['status']} = '{DONE}', {c['lease_token']} = NULL, "
            f"{c['lease_expires']} = NULL, {c['finished_at']} = %s, {c['updated_at']} = %s "
            f"WHERE {where}"
        )

    @cache
    def requeue(self) -> str:
        """Params: scheduled_time, payload, error, traceback, now, id, token, now."""
        c = self.col
        return (
            f"UPDATE {self.table} SET {c['status']} = '{READY}', {c['scheduled_time']} = %s, "
            f"{c['payload']} = %s, {c['last_error']} = %s, {c['traceback']} = %s, "
            f"{c['lease_token']} = NULL, {c['lease_expires']} = NULL, {c['updated_at']} = %s "
            f"WHERE {c['id']} = %s AND {self.held}"
        )

    @cache
    def fail(self, held: bool = True) -> str:
        """Params: error, traceback, now, now, id, token[, now]."""
        c = self.col
        condition = self.held if held else f"{c['lease_token']} = %s"
        return (
            f"UPDATE {self.table} SET {c['status']} = '{FAILED}', {c['last_error']} = %s, "
            f"{c['traceback']} = %s, {c['lease_token']} = NULL, {c['lease_expires']} = NULL, "
            f"{c['finished_at']} = %s, {c['updated_at']} = %s "
            f"WHERE {c['id']} = %s AND {condition}"
        )

    @cache
    def extend(self) -> str:
        """Params: expires, id, token, now."""
        c = self.col
        return (
            f"UPDATE {self.table} SET {c['lease_expires']} = %s "
            f"WHERE {c['id']} = %s AND {self.held}"
        )


class SQLiteDialect(Dialect):
    # SQLite does not check that TEXT is UTF-8, and Python's sqlite3 raises
    # while fetching a row whose text is not: the whole claimed batch would
    # be lost to its leases. Read the payload as bytes and let the decoder
    # refuse the one bad row.
    payload_read = "CAST({} AS BLOB)"
    # Any write statement takes SQLite's one writer lock as it starts, even
    # an UPDATE that matches no row: an idle worker's claim would hold up the
    # producers' inserts and the acknowledgements on every poll. A read
    # (no lock in WAL mode) looks for a due task first.
    claims_lock_database = True
    # Django's cursor wrapper costs about as much Python per statement as
    # SQLite takes to run a small insert (placeholder rewriting by regex,
    # wrappers, per-call checks); see NativeCursor.
    runs_natively = True
    # Without statistics (nobody runs ANALYZE on a queue table) SQLite's
    # planner preferred the partial lease index over the primary key for
    # "status = in_flight AND lease_expires > now AND id IN (…)": every
    # acknowledgement scanned all leased rows, about 1 ms a statement with
    # a few hundred in flight, holding the write lock that producers and
    # claims wait for. A unary + keeps the condition and takes the column
    # out of index selection, leaving the primary key.
    held_status = "+{}"

    def db_time(self, connection: BaseDatabaseWrapper, epoch: float) -> Any:
        # What adapt_datetimefield_value stores (str() of the naive UTC
        # datetime) without its timezone round trips; other zones or
        # USE_TZ=False take Django's own path.
        if settings.USE_TZ and connection.timezone_name == "UTC":
            return str(datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None))
        return super().db_time(connection, epoch)


_FORMAT_PLACEHOLDER = re.compile(r"(?<!%)%s")


@lru_cache(maxsize=4096)
def qmark(statement: str) -> str:
    """``statement`` with Django's ``%s`` placeholders in sqlite3's ``?``
    style, as Django's SQLite cursor rewrites it on every execute; here
    once per statement shape."""
    return _FORMAT_PLACEHOLDER.sub("?", statement).replace("%%", "%")


class NativeCursor:
    """The parts of Django's cursor the backend uses, on the SQLite DB-API
    connection directly: the same checks (connection health and thread,
    broken transaction) and the same error mapping
    (``wrap_database_errors``, so lock errors arrive as Django's
    ``OperationalError``), but placeholders rewritten once per statement
    (``qmark``) and no per-statement wrapper stack. Only used when nothing
    observes queries on the connection (no ``execute_wrapper``, no query
    logging): ``native_cursor`` decides."""

    __slots__ = ("cursor", "db")

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        connection.validate_thread_sharing()
        self.db = connection
        with connection.wrap_database_errors:
            self.cursor = connection.connection.cursor()

    def __enter__(self) -> NativeCursor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cursor.close()

    def execute(self, statement: str, params: Any) -> None:
        self.db.validate_no_broken_transaction()
        with self.db.wrap_database_errors:
            self.cursor.execute(qmark(statement), params)

    def fetchall(self) -> list[Any]:
        with self.db.wrap_database_errors:
            return self.cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount


def cursor_for(dialect: Dialect, connection: BaseDatabaseWrapper) -> Any:
    """A cursor for the backend's statements: a ``NativeCursor`` where the
    dialect allows it and nothing observes the connection's queries
    (``connection.execute_wrapper``, ``DEBUG`` query logging), else
    Django's own."""
    if dialect.runs_natively and not connection.execute_wrappers and not connection.queries_logged:
        return NativeCursor(connection)
    return connection.cursor()


class PostgreSQLDialect(Dialect):
    lock_clause = " FOR UPDATE SKIP LOCKED"


class MySQLDialect(Dialect):
    lock_clause = " FOR UPDATE SKIP LOCKED"
    claim_returns = False
    upserts = False

    @cache
    def insert(self, rows: int) -> str:
        """``INSERT IGNORE``: duplicates are skipped and counted out of the
        rowcount; the backend then re-enqueues done/failed ids by update."""
        c = self.col
        values = ", ".join(["(" + ", ".join(["%s"] * len(INSERT_FIELDS)) + ")"] * rows)
        columns = ", ".join(c[f] for f in INSERT_FIELDS)
        return f"INSERT IGNORE INTO {self.table} ({columns}) VALUES {values}"


DIALECTS: dict[str, type[Dialect]] = {
    "sqlite": SQLiteDialect,
    "postgresql": PostgreSQLDialect,
    "mysql": MySQLDialect,
}


def dialect_for(connection: BaseDatabaseWrapper) -> Dialect:
    try:
        cls = DIALECTS[connection.vendor]
    except KeyError:
        raise NotImplementedError(
            f"the database backend supports {', '.join(SUPPORTED_VENDORS)}; database "
            f"{connection.alias!r} is {connection.vendor!r}"
        ) from None
    return cls(connection)
