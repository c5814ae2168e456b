"""``manage.py prunetaskresults``: delete old results of Django tasks (``django.tasks``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from symphra_django.django_tasks.retention import prune_results
from symphra_django.management.retention import RetentionCommand


class Command(RetentionCommand):
    help = (
        "Delete finished (SUCCESSFUL or FAILED) Django task results older than the "
        "retention, in small batches. The retention is SYMPHRA['HISTORY_RETENTION'] "
        "unless --older-than is given."
    )
    rows_name = "Django task result(s)"
    batch_help = "Rows deleted per query (default 500)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--database", metavar="ALIAS",
                            help="The DATABASES alias to prune (default: the router's choice).")

    def prune(self, older_than: float | None, options: dict[str, Any]) -> int:
        return prune_results(older_than, batch_size=options["batch_size"],
                             dry_run=options["dry_run"], using=options["database"])
