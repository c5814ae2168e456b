"""``manage.py prunetasks``: delete old finished tasks from the database backend's history."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from symphra_django.backends.database.history import FINISHED, prune_history
from symphra_django.management.retention import RetentionCommand


class Command(RetentionCommand):
    help = (
        "Delete finished (done) and failed tasks older than the retention from the "
        "database backend's queue tables, in small batches so that running workers "
        "are not held up. The retention is SYMPHRA['HISTORY_RETENTION'] unless "
        "--older-than is given."
    )
    rows_name = "finished task(s)"

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--status", action="append", choices=FINISHED, dest="statuses",
            help="Only prune rows in this state (repeatable). Default: done and failed.",
        )
        parser.add_argument(
            "--database", action="append", dest="databases", metavar="ALIAS",
            help="Only prune this DATABASES alias (repeatable). Default: every "
            "database that a database queue backend uses.",
        )

    def prune(self, older_than: float | None, options: dict[str, Any]) -> int:
        return prune_history(
            older_than,
            databases=options["databases"],
            statuses=options["statuses"] or FINISHED,
            batch_size=options["batch_size"],
            dry_run=options["dry_run"],
        )
