"""``manage.py prunetaskresults``: delete old results of Django tasks (``django.tasks``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from symphra_django import conf
from symphra_django.django_tasks.retention import prune_results
from symphra_django.management.commands.prunetasks import duration


class Command(BaseCommand):
    help = (
        "Delete finished (SUCCESSFUL or FAILED) Django task results older than the "
        "retention, in small batches. The retention is SYMPHRA['HISTORY_RETENTION'] "
        "unless --older-than is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than", type=duration, metavar="AGE",
            help="Prune results finished more than AGE ago: seconds, or a number with "
            "s/m/h/d/w (e.g. 90m, 7d). Default: SYMPHRA['HISTORY_RETENTION'].",
        )
        parser.add_argument("--batch-size", type=int, default=500, metavar="N",
                            help="Rows deleted per query (default 500).")
        parser.add_argument("--database", metavar="ALIAS",
                            help="The DATABASES alias to prune (default: the router's choice).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["older_than"] is None and conf.get("HISTORY_RETENTION") is None:
            self.stdout.write("SYMPHRA['HISTORY_RETENTION'] is None (keep forever) and no "
                              "--older-than was given: nothing to prune.")
            return
        try:
            count = prune_results(options["older_than"], batch_size=options["batch_size"],
                                  dry_run=options["dry_run"], using=options["database"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(f"{verb} {count} Django task result(s).")
