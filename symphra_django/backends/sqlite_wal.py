"""Folding SQLite's write-ahead log back from a worker's upkeep thread, for
the backends that write to the project database (the database backend's
queue, the RabbitMQ ledger).

In WAL mode, the commit that takes the log past ``wal_autocheckpoint``
(1000 pages) copies the log into the database file and syncs it before it
returns: at 200 tasks a second that was about one claim or acknowledgement
a second waiting milliseconds, the 99th percentile of start lateness. The
backend's ``upkeep`` (see ``QueueBackend.upkeep``) checkpoints more often,
so the log never gets there; a PASSIVE checkpoint waits for no reader or
writer.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

#: Seconds to the next checkpoint while the log grows: at a few thousand
#: pages a second the log stays under SQLite's own 1000-page trigger. While
#: it does not grow, the next look is CHECKPOINT_IDLE seconds later, doubled
#: at each look that finds no change up to CHECKPOINT_IDLE_MAX: an idle
#: worker wakes for it a few times a minute, and when work starts, SQLite
#: checkpoints once in a commit at worst before the upkeep looks again.
CHECKPOINT_BUSY = 0.1
CHECKPOINT_IDLE = 0.5
CHECKPOINT_IDLE_MAX = 4.0
#: Outside WAL mode there is no log to fold: look again this much later.
CHECKPOINT_NO_WAL = 60.0


def keeps_a_log(connection: BaseDatabaseWrapper) -> bool:
    """Whether the connection's engine may keep a write-ahead log for a
    worker's upkeep to fold back (SQLite; the upkeep finds out whether the
    database is in WAL mode)."""
    return connection.vendor == "sqlite"


class Checkpointer:
    """Runs the checkpoints of one backend and says when to run the next."""

    def __init__(self) -> None:
        self._last_state = (-1, -1)
        self._idle_wait = CHECKPOINT_IDLE / 2

    def checkpoint(self, connection: BaseDatabaseWrapper) -> float:
        """Copy what it can of the log into the database file, waiting for
        nobody; returns the seconds to wait before the next call."""
        if not keeps_a_log(connection):
            return CHECKPOINT_NO_WAL
        try:
            connection.ensure_connection()
            _busy, frames, copied = connection.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except Exception:
            connection.close()  # the next call starts from a new connection
            raise
        if frames < 0:  # not in WAL mode
            return CHECKPOINT_NO_WAL
        if (frames, copied) != self._last_state:
            self._last_state, self._idle_wait = (frames, copied), CHECKPOINT_IDLE / 2
            return CHECKPOINT_BUSY
        self._idle_wait = min(self._idle_wait * 2, CHECKPOINT_IDLE_MAX)
        return self._idle_wait
