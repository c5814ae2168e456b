"""``manage.py schedules``: list, add, remove, enable and disable the
schedules kept in the database, for people who do not use the admin."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from symphra_django.models import PeriodicSchedule
from symphra_django.ops.schedules import next_run_labels

EPILOG = """\
examples:
  manage.py schedules add nightly-report --task reports.tasks.build --cron "0 3 * * *" --timezone Europe/Paris
  manage.py schedules add heartbeat --task monitoring.tasks.ping --interval 30s --kwargs '{"target": "db"}'
  manage.py schedules list
  manage.py schedules disable heartbeat
  manage.py schedules remove heartbeat

A running runscheduler picks up every change within one tick.
"""

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def interval_seconds(text: str) -> int:
    """``"90"``, ``"90s"``, ``"5m"``, ``"2h"`` or ``"1d"`` as whole seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if match is None:
        raise CommandError(f"--interval {text!r} is not a number of seconds; use e.g. 30, 30s, 5m, 2h or 1d")
    return int(match.group(1)) * _UNITS[match.group(2)]


def json_value(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{option} is not valid JSON ({exc}): {text!r}") from None


def aware_datetime(text: str, option: str) -> datetime:
    """An ISO 8601 date and time; without an offset, in the current time zone."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{option} {text!r} is not an ISO 8601 date and time, e.g. 2026-01-31T08:00") from None
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def problems(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "\n".join(f"  {field}: {message}" for field, messages in error.message_dict.items()
                         for message in messages)
    return "\n".join(f"  {message}" for message in error.messages)


class Command(BaseCommand):
    help = (
        "Manage the periodic schedules kept in the database (the same ones as in the admin): list, show, "
        "add, remove, enable, disable. A running runscheduler picks up a change within one tick."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, epilog=EPILOG, **kwargs)
        from argparse import RawDescriptionHelpFormatter

        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        listing = actions.add_parser("list", help="List every database schedule with its next run.")
        listing.add_argument("--json", action="store_true", help="Print JSON (one object per schedule).")
        show = actions.add_parser("show", help="Show one schedule and its next five runs.")
        show.add_argument("name")
        add = actions.add_parser("add", help="Add a schedule (validated as in the admin).")
        add.add_argument("name", help="A unique name of your choice.")
        add.add_argument("--task", required=True, help="Name of a declared task, e.g. myapp.tasks.report.")
        when = add.add_mutually_exclusive_group(required=True)
        when.add_argument("--cron", metavar="EXPR",
                          help='Cron expression: 5 fields, or 6 with seconds first ("*/5 * * * * *").')
        when.add_argument("--interval", metavar="SECONDS",
                          help="Interval: seconds, or with a unit: 30s, 5m, 2h, 1d.")
        # Not dest="args": Django's call_command keeps that name for positional arguments.
        add.add_argument("--args", dest="json_args", default="[]", metavar="JSON",
                         help='Positional arguments, a JSON list: \'[1, "a"]\'.')
        add.add_argument("--kwargs", dest="json_kwargs", default="{}", metavar="JSON",
                         help="Keyword arguments, a JSON object: '{\"n\": 1}'.")
        add.add_argument("--timezone", default="", metavar="ZONE",
                         help="IANA zone of the cron expression (default: SYMPHRA['TIME_ZONE'] or TIME_ZONE).")
        add.add_argument("--start", metavar="DATETIME",
                         help="No run before this ISO 8601 time (without an offset: in TIME_ZONE).")
        add.add_argument("--end", metavar="DATETIME",
                         help="No run after this ISO 8601 time (without an offset: in TIME_ZONE).")
        add.add_argument("--misfire-grace", type=int, metavar="SECONDS",
                         help="Seconds a missed run may be late and still run (default: "
                              "SYMPHRA['MISFIRE_GRACE_TIME']).")
        add.add_argument("--max-instances", type=int, default=1, metavar="N",
                         help="Runs that may be queued or running at once (default: %(default)s).")
        add.add_argument("--queue", default="", help="Queue to run on (default: the task's).")
        add.add_argument("--priority", type=int, help="-100..100, higher first (default: the task's).")
        add.add_argument("--disabled", action="store_true", help="Add it disabled.")
        add.add_argument("--replace", action="store_true",
                         help="Replace the schedule of that name if there is one (else it is an error).")
        for action, text in (("remove", "Delete a schedule."), ("enable", "Enable a schedule."),
                             ("disable", "Disable a schedule (it stays, and runs again once enabled).")):
            actions.add_parser(action, help=text).add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"do_{options['action']}")(options)

    # -- actions ---------------------------------------------------------------

    def do_list(self, options: dict[str, Any]) -> None:
        schedules = list(PeriodicSchedule.objects.order_by("name"))
        if options["json"]:
            self.stdout.write(json.dumps([self._as_dict(s) for s in schedules], indent=2))
            return
        if not schedules:
            self.stdout.write("No schedule is kept in the database.")
            return
        rows = [("name", "task", "schedule", "enabled", "next run")]
        rows += [(s.name, s.task, f"{s.expression} ({s.describe()})", "yes" if s.enabled else "no",
                  self._next(s)) for s in schedules]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    def do_show(self, options: dict[str, Any]) -> None:
        schedule = self._get(options["name"])
        for key, value in self._as_dict(schedule).items():
            if key != "next_runs":
                self.stdout.write(f"{key}: {json.dumps(value) if isinstance(value, (list, dict)) else value}")
        self._write_runs(schedule)

    def do_add(self, options: dict[str, Any]) -> None:
        values = {
            "task": options["task"],
            "cron": options["cron"] or "",
            "interval": None if options["interval"] is None else interval_seconds(options["interval"]),
            "args": json_value(options["json_args"], "--args"),
            "kwargs": json_value(options["json_kwargs"], "--kwargs"),
            "timezone": options["timezone"],
            "start_time": None if options["start"] is None else aware_datetime(options["start"], "--start"),
            "end_time": None if options["end"] is None else aware_datetime(options["end"], "--end"),
            "misfire_grace": options["misfire_grace"],
            "max_instances": options["max_instances"],
            "queue": options["queue"],
            "priority": options["priority"],
            "enabled": not options["disabled"],
        }
        for name, kind in (("args", list), ("kwargs", dict)):
            if not isinstance(values[name], kind):
                raise CommandError(f"--{name} must be a JSON {'list' if kind is list else 'object'}, "
                                   f"got {options['json_' + name]!r}")
        try:
            schedule = PeriodicSchedule.objects.add(options["name"], replace=options["replace"], **values)
        except ValidationError as exc:
            raise CommandError(f"schedule {options['name']!r} not saved:\n{problems(exc)}") from None
        self.stdout.write(f"Saved schedule {schedule.name}: {schedule.describe()} → {schedule.task}.")
        self._write_runs(schedule)

    def do_remove(self, options: dict[str, Any]) -> None:
        if not PeriodicSchedule.objects.remove(options["name"]):
            raise CommandError(self._unknown(options["name"]))
        self.stdout.write(f"Removed schedule {options['name']}.")

    def do_enable(self, options: dict[str, Any]) -> None:
        self._set_enabled(options["name"], True)

    def do_disable(self, options: dict[str, Any]) -> None:
        self._set_enabled(options["name"], False)

    # -- helpers ---------------------------------------------------------------

    def _set_enabled(self, name: str, enabled: bool) -> None:
        try:
            PeriodicSchedule.objects.set_enabled(name, enabled)
        except PeriodicSchedule.DoesNotExist:
            raise CommandError(self._unknown(name)) from None
        self.stdout.write(f"Schedule {name} {'enabled' if enabled else 'disabled'}.")

    def _get(self, name: str) -> PeriodicSchedule:
        try:
            return PeriodicSchedule.objects.get(name=name)
        except PeriodicSchedule.DoesNotExist:
            raise CommandError(self._unknown(name)) from None

    @staticmethod
    def _unknown(name: str) -> str:
        names = list(PeriodicSchedule.objects.order_by("name").values_list("name", flat=True)[:20])
        known = ", ".join(names) if names else "none"
        return f"no database schedule named {name!r} (schedules: {known}); see `manage.py schedules list`"

    @staticmethod
    def _next(schedule: PeriodicSchedule) -> str:
        if not schedule.enabled:
            return "disabled"
        try:
            runs = schedule.next_runs(1)
        except Exception as exc:  # noqa: BLE001 - a row may have been written around validation
            return f"invalid: {exc}"
        return runs[0].isoformat() if runs else "never again"

    def _write_runs(self, schedule: PeriodicSchedule) -> None:
        labels, problem = next_run_labels(schedule)
        if problem:
            self.stdout.write(f"next runs: cannot be computed: {problem}")
            return
        self.stdout.write("next runs:" + "".join(f"\n  {label}" for label in labels) if labels else
                          "next runs: none")

    def _as_dict(self, schedule: PeriodicSchedule) -> dict[str, Any]:
        return {
            "name": schedule.name, "task": schedule.task, "cron": schedule.cron, "interval": schedule.interval,
            "timezone": schedule.timezone, "args": schedule.args, "kwargs": schedule.kwargs,
            "start_time": schedule.start_time.isoformat() if schedule.start_time else None,
            "end_time": schedule.end_time.isoformat() if schedule.end_time else None,
            "misfire_grace": schedule.misfire_grace, "max_instances": schedule.max_instances,
            "queue": schedule.queue, "priority": schedule.priority, "enabled": schedule.enabled,
            "next_run": self._next(schedule),
        }
