"""Periodic schedules kept in the database, editable at run time.

Beside the periodic tasks the code declares (``@cron``, ``@interval``, …),
a project can keep schedules as rows of :class:`PeriodicSchedule`: any
registered task, on a cron expression or an interval, with its arguments,
time zone, start and end, misfire grace, ``max_instances``, queue and
priority. The admin, ``manage.py schedules`` and the manager's
:meth:`~PeriodicScheduleManager.add` create them; every running beat reads
them again on each loop, so a change takes effect within one tick, without a
restart.

Validation lives in one place, :meth:`PeriodicSchedule.clean` (run by the
admin's form, ``add`` and the command through ``full_clean``): the task must
be registered (looked up in the registry, never imported), the expression
must be valid and fire, the arguments must be JSON and fit the task's
signature, the zone must exist, the start must precede the end.
"""

from __future__ import annotations

import inspect
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone as dj_timezone

from symphra_django.exceptions import EnqueueError, TaskDeclarationError
from symphra_django.models.schedules import ScheduleState
from symphra_django.tasks.registry import RESERVED_PREFIX
from symphra_django.tasks.schedules import CronSchedule, IntervalSchedule, Schedule, Window, get_zone, upcoming
from symphra_django.utils.times import from_timestamp, model_epoch

#: Prefix of a database schedule's name in the tick ledger (``ScheduleState``),
#: in its tasks' ``meta["schedule"]`` and in their tick ids. The registry
#: refuses task names that start with it, so it never collides with a code schedule.
LEDGER_PREFIX = RESERVED_PREFIX

#: Fields whose change moves a schedule's ticks (see ``timing_changed_at``).
TIMING_FIELDS = ("cron", "interval", "timezone", "start_time")

ZONE_WITH_INTERVAL = "a time zone applies to cron expressions only; leave it empty for an interval"

#: How many upcoming runs the admin and ``manage.py schedules`` show.
PREVIEW_RUNS = 5


def ledger_key(pk: int) -> str:
    """The name a database schedule has in the tick ledger."""
    return f"{LEDGER_PREFIX}{pk}"


class PeriodicScheduleManager(models.Manager["PeriodicSchedule"]):
    """``PeriodicSchedule.objects``: the code API of database schedules."""

    def add(
        self,
        name: str,
        task: Any,
        *,
        cron: str = "",
        interval: int | timedelta | None = None,
        args: list[Any] | tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        timezone: str = "",
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        misfire_grace: int | None = None,
        max_instances: int = 1,
        queue: str = "",
        priority: int | None = None,
        enabled: bool = True,
        replace: bool = False,
    ) -> PeriodicSchedule:
        """Validate and save a schedule named ``name`` running ``task`` (a
        registered task or its name) on ``cron`` or every ``interval``
        seconds; ``replace=True`` updates the schedule of that name if there
        is one. Raises ``ValidationError`` naming each problem; saves nothing
        then. Empty ``queue``/``timezone`` and ``priority``/``misfire_grace``
        of None mean the task's queue and priority, the configured zone and
        ``SYMPHRA["MISFIRE_GRACE_TIME"]``."""
        if isinstance(interval, timedelta):
            seconds = interval.total_seconds()
            interval = int(seconds) if seconds == int(seconds) else seconds  # type: ignore[assignment]
        if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int)):
            raise ValidationError({"interval": f"interval must be a whole number of seconds, got {interval!r}"})
        schedule = self.filter(name=name).first() if replace else None
        if schedule is None:
            schedule = self.model(name=name)
        values = {
            "task": getattr(task, "name", task), "cron": cron, "interval": interval,
            "args": list(args) if isinstance(args, tuple) else args, "kwargs": {} if kwargs is None else kwargs,
            "timezone": timezone,
            "start_time": start_time, "end_time": end_time, "misfire_grace": misfire_grace,
            "max_instances": max_instances, "queue": queue, "priority": priority, "enabled": enabled,
        }
        for field, value in values.items():
            setattr(schedule, field, value)
        schedule.full_clean()
        schedule.save()
        return schedule

    def remove(self, name: str) -> bool:
        """Delete the schedule named ``name``; whether there was one."""
        deleted, _ = self.filter(name=name).delete()
        return bool(deleted)

    def set_enabled(self, name: str, enabled: bool) -> PeriodicSchedule:
        """Enable or disable the schedule named ``name`` (``DoesNotExist`` if none)."""
        schedule = self.get(name=name)
        schedule.enabled = enabled
        schedule.save(update_fields=["enabled", "updated_at"])
        return schedule


class PeriodicSchedule(models.Model):
    """A periodic schedule of a registered task, kept in the database.

    Exactly one of ``cron`` and ``interval`` is set. Its ticks are claimed in
    the same tick ledger as code schedules, under ``db-schedule:<id>``: the
    id never changes, so an edit never makes a tick run twice. A schedule
    ticks only after ``timing_changed_at``, the moment it was created or its
    timing (expression, interval, zone or start) last changed: ticks due
    before a save never run because of it, and the first tick is the first
    one the saved timing gives after the save.
    """

    name = models.CharField(max_length=200, unique=True, help_text="A name of your choice, unique.")
    task = models.CharField(max_length=255, help_text="The registered task to run, by name.")
    cron = models.CharField(
        max_length=200, blank=True,
        help_text="5 fields (minute hour day month weekday), or 6 with seconds first. "
                  "Leave empty for an interval.")
    interval = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Seconds between runs, counted from the start time (or the Unix epoch: 300 runs at "
                  ":00, :05, …). Leave empty for a cron expression.")
    timezone = models.CharField(
        "time zone", max_length=64, blank=True,
        help_text="IANA zone a cron expression is read in, e.g. Europe/Paris. Empty: SYMPHRA['TIME_ZONE'], "
                  "else settings.TIME_ZONE.")
    args = models.JSONField(default=list, blank=True, help_text='Positional arguments, a JSON list: ["a", 1].')
    kwargs = models.JSONField(default=dict, blank=True, help_text='Keyword arguments, a JSON object: {"n": 1}.')
    start_time = models.DateTimeField(null=True, blank=True, help_text="No run before this time.")
    end_time = models.DateTimeField(null=True, blank=True, help_text="No run after this time.")
    misfire_grace = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Seconds a missed run may be late and still run (once). Empty: "
                  "SYMPHRA['MISFIRE_GRACE_TIME'].")
    max_instances = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1)],
        help_text="Runs that may be queued or running at once; a tick beyond them is skipped.")
    queue = models.CharField(max_length=100, blank=True, help_text="Empty: the task's own queue.")
    priority = models.SmallIntegerField(
        null=True, blank=True, help_text="-100 to 100, higher runs first. Empty: the task's own priority.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    timing_changed_at = models.DateTimeField(
        null=True, editable=False,
        help_text="When the schedule was created or its timing last changed; it ticks only after this.")

    objects = PeriodicScheduleManager()

    #: The timing fields as read from the database (None: unknown or unsaved).
    _loaded_timing: tuple[Any, ...] | None = None

    class Meta:
        db_table = "symphra_periodic_schedule"
        verbose_name = "database schedule"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    # -- timing ----------------------------------------------------------------------

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any, **kwargs: Any) -> PeriodicSchedule:
        # **kwargs: Django 6.1 passes fetch_mode=, which 5.2 does not know.
        instance = super().from_db(db, field_names, values, **kwargs)
        if all(name in field_names for name in TIMING_FIELDS):
            instance._loaded_timing = instance.timing_values()
        return instance

    def timing_values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in TIMING_FIELDS)

    def timing_changed(self) -> bool:
        """Whether saving now would move the ticks (a new schedule, or its
        expression, interval, zone or start changed since it was read)."""
        if self._state.adding or self.timing_changed_at is None:
            return True
        loaded = self._loaded_timing
        if loaded is None:
            loaded = type(self)._base_manager.using(self._state.db).filter(pk=self.pk).values_list(
                *TIMING_FIELDS).first()
        return loaded is None or tuple(loaded) != self.timing_values()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.timing_changed():
            self.timing_changed_at = dj_timezone.now()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "timing_changed_at"}
        super().save(*args, **kwargs)
        self._loaded_timing = self.timing_values()

    @property
    def ledger_key(self) -> str:
        return ledger_key(self.pk)

    def schedule(self) -> Schedule:
        """The cron or interval schedule of this row; ``TaskDeclarationError``
        naming the problem if it is not a valid one (rows are read as
        untrusted data: they may have been written around :meth:`clean`)."""
        if bool(self.cron) == (self.interval is not None):
            raise TaskDeclarationError("give either a cron expression or an interval")
        if self.cron:
            if self.timezone:
                get_zone(self.timezone)
            return CronSchedule(self.cron, self.timezone or None)
        if self.timezone:
            raise TaskDeclarationError(ZONE_WITH_INTERVAL)
        anchor = model_epoch(self.start_time) if self.start_time is not None else 0.0
        return IntervalSchedule(self.interval, anchor)

    def window(self, now: float | None = None) -> Window:
        """Where ticks may fall: from the start time, and not before the
        timing last changed (``now`` for a timing not saved yet), up to the end time."""
        unsaved = self._state.adding or (
            self._loaded_timing is not None and self._loaded_timing != self.timing_values())
        if unsaved:
            floor: float | None = time.time() if now is None else now
        else:
            floor = None if self.timing_changed_at is None else model_epoch(self.timing_changed_at)
        starts = [t for t in (floor, None if self.start_time is None else model_epoch(self.start_time))
                  if t is not None]
        return Window(max(starts) if starts else None, None if self.end_time is None else model_epoch(self.end_time))

    def next_runs(self, count: int = PREVIEW_RUNS, now: float | None = None) -> list[datetime]:
        """The next ``count`` runs (aware UTC datetimes) as the beat will enqueue
        them, the values not saved yet included; fewer when the end time comes first."""
        now = time.time() if now is None else now
        return [from_timestamp(t) for t in upcoming(self.schedule(), now, count, self.window(now))]

    def describe(self) -> str:
        """The schedule in words (``Every 5 minutes``), or the problem with it."""
        try:
            return self.schedule().describe()
        except TaskDeclarationError as exc:
            return f"invalid: {exc}"

    @property
    def expression(self) -> str:
        return self.cron or (f"every {self.interval}s" if self.interval is not None else "")

    def zone_name(self) -> str:
        from symphra_django.conf import time_zone_name

        return self.timezone or time_zone_name()

    # -- validation ------------------------------------------------------------------

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}

        def refuse(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        if self.args is None or self.args == "":
            self.args = []
        if self.kwargs is None or self.kwargs == "":
            self.kwargs = {}
        task = self._clean_task(refuse)
        self._clean_timing(refuse)
        self._clean_arguments(task, refuse)
        self._clean_delivery(task, refuse)
        if errors:
            raise ValidationError(errors)
        self._clean_fires(refuse)
        if errors:
            raise ValidationError(errors)

    def _clean_task(self, refuse: Any) -> Any:
        from symphra_django.tasks.registry import registry

        if not self.task:
            return None
        task = registry.get(self.task)
        if task is None:
            refuse("task", f"unknown task {self.task!r}: no task of that name is declared in this project "
                           "(declare it with @task in an app's tasks.py, then pick it by its name)")
        return task

    def _clean_timing(self, refuse: Any) -> None:
        if self.cron and self.interval is not None:
            refuse("interval", "give either a cron expression or an interval, not both")
            return
        if not self.cron and self.interval is None:
            refuse("cron", "give a cron expression or an interval in seconds")
            return
        if self.timezone and self.interval is not None:
            refuse("timezone", ZONE_WITH_INTERVAL)
            return
        if self.timezone:
            try:
                get_zone(self.timezone)
            except TaskDeclarationError as exc:
                refuse("timezone", str(exc))
                return
        for name in ("start_time", "end_time"):
            value = getattr(self, name)
            if value is not None and settings.USE_TZ and dj_timezone.is_naive(value):
                refuse(name, f"{name} must be an aware datetime (USE_TZ is True), got {value!r}")
                return
        if self.start_time is not None and self.end_time is not None and self.start_time >= self.end_time:
            refuse("end_time", "the end time must be after the start time")
        if self.interval is not None and self.interval < 1:
            return  # the field's own validator says so
        try:
            self.schedule()
        except TaskDeclarationError as exc:
            refuse("cron" if self.cron else "interval", str(exc))

    def _clean_arguments(self, task: Any, refuse: Any) -> None:
        from symphra_django.tasks.base import check_json_arguments

        if not isinstance(self.args, list):
            refuse("args", f"positional arguments must be a JSON list such as [1, \"a\"], got {self.args!r}")
        if not isinstance(self.kwargs, dict):
            refuse("kwargs", f"keyword arguments must be a JSON object such as {{\"n\": 1}}, got {self.kwargs!r}")
        if not isinstance(self.args, list) or not isinstance(self.kwargs, dict):
            return
        name = self.task or "?"
        try:
            check_json_arguments(name, self.args, self.kwargs)
        except EnqueueError as exc:
            refuse("args", str(exc))
            return
        if task is None:
            return
        try:
            signature = inspect.signature(task.func)
        except (TypeError, ValueError):
            return
        try:
            signature.bind(*self.args, **self.kwargs)
        except TypeError as exc:
            refuse("args", f"these arguments do not fit {task.name}{signature}: {exc}")

    def _clean_delivery(self, task: Any, refuse: Any) -> None:
        from symphra_django.tasks.base import check_priority, check_queue
        from symphra_django.utils.identifiers import validate_identifier

        if self.priority is not None:
            try:
                check_priority(self.priority, self.task)
            except EnqueueError as exc:
                refuse("priority", str(exc))
        if self.queue:
            try:
                validate_identifier(self.queue, "queue")
                check_queue(self.queue, self.task)
            except (ValueError, EnqueueError) as exc:
                refuse("queue", str(exc))

    def _clean_fires(self, refuse: Any) -> None:
        try:
            fires = not self.enabled or bool(self.next_runs(1))
        except TaskDeclarationError:
            return  # a field's own validation names the problem
        if not fires:
            refuse("end_time", "this schedule would never run again: no tick falls between now (or its start "
                               "time) and its end time")


@receiver(post_delete, sender=PeriodicSchedule, dispatch_uid="symphra_django.forget_database_schedule")
def forget_ledger_row(sender: type[PeriodicSchedule], instance: PeriodicSchedule, using: str, **kwargs: Any) -> None:
    """A deleted schedule's ledger row (last tick, last run) goes with it."""
    ScheduleState.objects.filter(name=ledger_key(instance.pk)).delete()
