"""The tick ledger: which periodic ticks were enqueued, shared by schedulers.

``claim(name, tick, next_run=...)`` moves a schedule's ``last_tick`` forward
(and records when its next tick is due) in one conditional UPDATE and says
whether this caller won. Several schedulers on
several hosts race for the same tick; exactly one wins it, and a slower one
cannot enqueue a tick that already ran and was acknowledged (the ledger
outlives the task, which C2's de-duplication alone does not).
"""

from __future__ import annotations

import threading

from django.db import DEFAULT_DB_ALIAS, router
from django.db.models import Q

from symphra_django.utils.times import model_datetime, model_epoch


class DatabaseLedger:
    """The ledger in the ``ScheduleState`` table (the project's database)."""

    @property
    def database(self) -> str:
        """The ``DATABASES`` alias holding the table."""
        from symphra_django.models import ScheduleState

        return router.db_for_write(ScheduleState) or DEFAULT_DB_ALIAS

    def _manager(self):
        from symphra_django.models import ScheduleState

        return ScheduleState.objects.db_manager(self.database)

    def ensure(self, names: list[str]) -> None:
        manager = self._manager()
        existing = set(manager.filter(name__in=names).values_list("name", flat=True))
        for name in names:
            if name not in existing:
                manager.get_or_create(name=name)

    def last_tick(self, name: str) -> float | None:
        last = self._manager().filter(name=name).values_list("last_tick", flat=True).first()
        return None if last is None else model_epoch(last)

    def last_ticks(self, names: list[str]) -> dict[str, float | None]:
        """``last_tick`` of each of ``names`` that has a row, in one query."""
        rows = self._manager().filter(name__in=names).values_list("name", "last_tick")
        return {name: None if last is None else model_epoch(last) for name, last in rows}

    def enabled(self, names: list[str]) -> dict[str, bool]:
        return dict(self._manager().filter(name__in=names).values_list("name", "enabled"))

    def claim(self, name: str, tick: float, by: str = "", *, next_run: float | None = None) -> bool:
        """Move ``last_tick`` to ``tick`` if it is older; True if this caller
        won. ``by`` (``host:pid``) is recorded as the tick's holder (the
        admin's Workers page shows it), and ``next_run`` (when the following
        tick is due) with it."""
        when = model_datetime(tick)
        return bool(
            self._manager()
            .filter(name=name)
            .filter(Q(last_tick__lt=when) | Q(last_tick__isnull=True))
            .update(last_tick=when, last_tick_by=by[:255],
                    next_run=None if next_run is None else model_datetime(next_run))
        )

    def unclaim(self, name: str, tick: float, previous: float | None) -> None:
        self._manager().filter(name=name, last_tick=model_datetime(tick)).update(
            last_tick=None if previous is None else model_datetime(previous)
        )

    def record_outcome(self, name: str, *, ok: bool, error: str | None, duration: float, at: float) -> None:
        self._manager().filter(name=name).update(
            last_run_at=model_datetime(at),
            last_status="succeeded" if ok else "failed",
            last_error=error or "",
            last_duration=duration,
        )


class MemoryLedger:
    """The ledger for a single process (memory backend, no database)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ticks: dict[str, float] = {}
        self.disabled: set[str] = set()
        self.outcomes: dict[str, dict[str, object]] = {}
        #: Who claimed each schedule's last tick.
        self.holders: dict[str, str] = {}

    def ensure(self, names: list[str]) -> None:
        pass

    def last_tick(self, name: str) -> float | None:
        return self._ticks.get(name)

    def last_ticks(self, names: list[str]) -> dict[str, float | None]:
        return {name: self._ticks[name] for name in names if name in self._ticks}

    def enabled(self, names: list[str]) -> dict[str, bool]:
        return {name: name not in self.disabled for name in names}

    def claim(self, name: str, tick: float, by: str = "", *, next_run: float | None = None) -> bool:
        with self._lock:
            last = self._ticks.get(name)
            if last is not None and last >= tick:
                return False
            self._ticks[name] = tick
            self.holders[name] = by
            return True

    def unclaim(self, name: str, tick: float, previous: float | None) -> None:
        with self._lock:
            if self._ticks.get(name) == tick:
                if previous is None:
                    self._ticks.pop(name, None)
                else:
                    self._ticks[name] = previous

    def record_outcome(self, name: str, *, ok: bool, error: str | None, duration: float, at: float) -> None:
        self.outcomes[name] = {"ok": ok, "error": error, "duration": duration, "at": at}


Ledger = DatabaseLedger | MemoryLedger
