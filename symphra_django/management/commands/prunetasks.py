"""``manage.py prunetasks``: delete old finished tasks from the database backend's history."""

from __future__ import annotations

import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from symphra_django import conf
from symphra_django.backends.database.history import FINISHED, prune_history

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


class Command(BaseCommand):
    help = (
        "Delete finished (done) and failed tasks older than the retention from the "
        "database backend's queue tables, in small batches so that running workers "
        "are not held up. The retention is SYMPHRA['HISTORY_RETENTION'] unless "
        "--older-than is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than", type=duration, metavar="AGE",
            help="Prune rows finished more than AGE ago: seconds, or a number with "
            "s/m/h/d/w (e.g. 90m, 7d). Default: SYMPHRA['HISTORY_RETENTION'].",
        )
        parser.add_argument(
            "--batch-size", type=int, default=500, metavar="N",
            help="Rows deleted per transaction (default 500).",
        )
        parser.add_argument(
            "--status", action="append", choices=FINISHED, dest="statuses",
            help="Only prune rows in this state (repeatable). Default: done and failed.",
        )
        parser.add_argument(
            "--database", action="append", dest="databases", metavar="ALIAS",
            help="Only prune this DATABASES alias (repeatable). Default: every "
            "database that a database queue backend uses.",
        )
        parser.add_argument(
            "--dry-run", action="store_true",
            help="Count what would be deleted; delete nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        older_than = options["older_than"]
        if older_than is None and conf.get("HISTORY_RETENTION") is None:
            self.stdout.write(
                "SYMPHRA['HISTORY_RETENTION'] is None (keep forever) and no "
                "--older-than was given: nothing to prune."
            )
            return
        try:
            count = prune_history(
                older_than,
                databases=options["databases"],
                statuses=options["statuses"] or FINISHED,
                batch_size=options["batch_size"],
                dry_run=options["dry_run"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(f"{verb} {count} finished task(s).")
