"""The hot statements of the RabbitMQ ledger, written once per connection.

Enqueue, claim and acknowledge run for every batch, and building them
through the ORM cost more CPU than running them (docs/performance.md has the
measurements). These are plain, portable
statements: table and column names come from ``BrokerTask._meta`` quoted by
the connection (``sql_names``), states are constants of the model, every
value is a query parameter. The insert that skips a duplicate id (C2) uses
the connection's own ``INSERT … IGNORE`` spelling. The other statements
(what is due, reclaim, failed store, clear) stay in the ORM in
``ledger``, each written once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.constants import OnConflict

from symphra_django.backends.sql_names import TableNames
from symphra_django.models import BrokerTask

# str() of a choices member is its value (``.value`` would be the same, but
# without django-stubs the type checker sees the (value, label) tuple).
QUEUED = str(BrokerTask.State.QUEUED)
IN_FLIGHT = str(BrokerTask.State.IN_FLIGHT)

#: Columns written by ``add``, in parameter order.
INSERT_FIELDS = ("namespace", "queue", "task_id", "token", "state", "scheduled_time", "updated_at")


class LedgerSQL:
    """Statements for one connection (its vendor's quoting and insert-ignore)."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        names = TableNames(connection, BrokerTask)
        self.table, self.col, self.max_params = names.table, names.col, names.max_params
        fields = [BrokerTask._meta.get_field(name) for name in INSERT_FIELDS]
        self._insert_head = connection.ops.insert_statement(on_conflict=OnConflict.IGNORE)
        self._insert_tail = connection.ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, None, None)
        c = self.col
        self._where_queue = f"{c['namespace']} = %s AND {c['queue']} = %s"
        # Without statistics SQLite prefers the (namespace, queue, state)
        # index for a claim, scanning the whole queued backlog, over looking
        # the ids up in the unique index; a unary + keeps it off that index.
        self._state_unindexed = f"+{c['state']}" if connection.vendor == "sqlite" else c["state"]

    def chunks(self, items: Sequence[Any], params_each: int, fixed: int = 0) -> Iterator[Sequence[Any]]:
        """``items`` in slices small enough for the connection's parameter limit."""
        size = max(1, (self.max_params - fixed) // params_each)
        for start in range(0, len(items), size):
            yield items[start : start + size]

    @cache
    def insert(self, rows: int) -> str:
        """Params: INSERT_FIELDS per row. A row whose id exists is skipped."""
        c = self.col
        columns = ", ".join(c[f] for f in INSERT_FIELDS)
        values = ", ".join(["(" + ", ".join(["%s"] * len(INSERT_FIELDS)) + ")"] * rows)
        return f"{self._insert_head} {self.table} ({columns}) VALUES {values} {self._insert_tail}".rstrip()

    @cache
    def tokens(self, rows: int) -> str:
        """Params: namespace, queue, then the ids. Returns (task_id, token)."""
        c = self.col
        return (
            f"SELECT {c['task_id']}, {c['token']} FROM {self.table} "
            f"WHERE {self._where_queue} AND {c['task_id']} IN ({', '.join(['%s'] * rows)})"
        )

    @cache
    def claim(self, rows: int) -> str:
        """Params: claim, lease_expires, now, namespace, queue, ids…, tokens….

        Matching ids and tokens as two sets matches exactly the (id, token)
        pairs: tokens are random and unique."""
        c = self.col
        marks = ", ".join(["%s"] * rows)
        return (
            f"UPDATE {self.table} SET {c['state']} = '{IN_FLIGHT}', {c['claim']} = %s, "
            f"{c['lease_expires']} = %s, {c['updated_at']} = %s "
            f"WHERE {self._where_queue} AND {self._state_unindexed} = '{QUEUED}' "
            f"AND {c['task_id']} IN ({marks}) AND {c['token']} IN ({marks})"
        )

    @cache
    def claimed(self) -> str:
        """Params: claim. The ids a claim took (when it took fewer than asked)."""
        c = self.col
        return f"SELECT {c['task_id']} FROM {self.table} WHERE {c['claim']} = %s"

    @cache
    def finish(self, rows: int, claims: int) -> str:
        """Params: namespace, queue, ids…, claims…."""
        c = self.col
        return (
            f"DELETE FROM {self.table} WHERE {self._where_queue} "
            f"AND {c['task_id']} IN ({', '.join(['%s'] * rows)}) "
            f"AND {c['claim']} IN ({', '.join(['%s'] * claims)})"
        )
