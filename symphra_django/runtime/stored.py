"""The beat's view of the schedules kept in the database (``PeriodicSchedule``).

:class:`DatabaseSchedules` reads the enabled rows again on every beat loop:
one query, at most once a second (the beat's ``max_sleep``), whatever the
queue backend, since the rows live in the project's Django database. That
is how an added, edited, disabled or deleted schedule takes effect within
one tick on every running scheduler, without a restart. A row's parsed
schedule is kept while its timing fields stay the same, so an unchanged row
costs no cron parsing.

Rows are untrusted data (they may have been written without the admin's
validation): a row's task is looked up in the registry of the running
process and never imported, and a row that is not a valid schedule is
skipped with one warning naming the problem, while the others run.
"""

from __future__ import annotations

import logging
from typing import Any

from symphra_django.runtime.beat import Periodic
from symphra_django.tasks.base import check_json_arguments, check_priority, check_queue
from symphra_django.tasks.registry import TaskRegistry
from symphra_django.tasks.schedules import Schedule
from symphra_django.utils.identifiers import validate_identifier
from symphra_django.utils.text import shorten_error, shorten_name

logger = logging.getLogger("symphra_django.beat")


class DatabaseSchedules:
    """Builds the beat's :class:`Periodic` entries from ``PeriodicSchedule`` rows."""

    def __init__(self) -> None:
        self._parsed: dict[int, tuple[tuple[Any, ...], Schedule]] = {}
        self._problems: dict[int, str] = {}
        self._last: list[Periodic] = []
        self._failing = False

    def load(self, registry: TaskRegistry) -> list[Periodic]:
        """The enabled database schedules, as entries of the beat.

        If the table cannot be read, the schedules read last keep running
        (one warning until it can be read again).
        """
        from symphra_django.models import PeriodicSchedule

        try:
            rows = list(PeriodicSchedule.objects.filter(enabled=True))
        except Exception:
            if not self._failing:
                logger.warning("cannot read the database schedules; the %d read last keep running",
                               len(self._last), exc_info=True)
            self._failing = True
            return list(self._last)
        if self._failing:
            logger.warning("the database schedules can be read again")
            self._failing = False
        entries, problems = [], {}
        for row in rows:
            try:
                entries.append(entry_of(row, registry, self._schedule(row)))
            except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
                problems[row.pk] = str(exc)
                if self._problems.get(row.pk) != problems[row.pk]:
                    logger.warning("database schedule %r (id %d) is skipped: %s", shorten_name(row.name), row.pk,
                                   shorten_error(exc))
        self._problems = problems
        current = {row.pk for row in rows}
        self._parsed = {pk: parsed for pk, parsed in self._parsed.items() if pk in current}
        self._last = entries
        return entries

    def _schedule(self, row: Any) -> Schedule:
        timing = row.timing_values()
        cached = self._parsed.get(row.pk)
        if cached is not None and cached[0] == timing:
            return cached[1]
        schedule = row.schedule()
        self._parsed[row.pk] = (timing, schedule)
        return schedule


def entry_of(row: Any, registry: TaskRegistry, schedule: Schedule | None = None) -> Periodic:
    """The beat's entry for one ``PeriodicSchedule`` row (its parsed
    ``schedule`` if the caller has it); raises naming the problem if the
    row is not a valid schedule of a task declared in ``registry``."""
    task = registry.get(row.task)
    if task is None:
        raise LookupError(f"its task {row.task!r} is not declared in this process")
    if schedule is None:
        schedule = row.schedule()
    if type(row.args) is not list or type(row.kwargs) is not dict:
        raise TypeError("its args must be a JSON list and its kwargs a JSON object")
    check_json_arguments(task.name, row.args, row.kwargs)
    queue = row.queue or task.queue
    validate_identifier(queue, "queue")
    check_queue(queue, task.name)
    priority = task.priority if row.priority is None else row.priority
    check_priority(priority, task.name)
    if isinstance(row.max_instances, bool) or not isinstance(row.max_instances, int) or row.max_instances < 1:
        raise ValueError(f"max_instances must be at least 1, got {row.max_instances!r}")
    return Periodic(
        key=row.ledger_key,
        task=task,
        schedule=schedule,
        window=row.window(),
        max_instances=row.max_instances,
        queue=queue,
        priority=priority,
        args=tuple(row.args),
        kwargs=dict(row.kwargs),
        grace=None if row.misfire_grace is None else float(row.misfire_grace),
    )
