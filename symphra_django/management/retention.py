"""What the pruning commands share: their common arguments and flow.

``prunetasks`` (the database backend's finished tasks) and
``prunetaskresults`` (Django task results) both delete rows finished more
than a retention ago, in batches, with a dry run; each says only what it
prunes and how.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from symphra_django import conf

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``7d`` or ``1w`` as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


class RetentionCommand(BaseCommand):
    """A command that deletes rows finished longer ago than the retention."""

    #: What the rows are, for the help and the closing line ("finished task(s)").
    rows_name = "row(s)"
    #: Help of --batch-size: what one batch is.
    batch_help = "Rows deleted per transaction (default 500)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than", type=duration, metavar="AGE",
            help="Prune rows finished more than AGE ago: seconds, or a number with "
            "s/m/h/d/w (e.g. 90m, 7d). Default: SYMPHRA['HISTORY_RETENTION'].",
        )
        parser.add_argument("--batch-size", type=int, default=500, metavar="N", help=self.batch_help)
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def prune(self, older_than: float | None, options: dict[str, Any]) -> int:
        """Delete (or, with ``options["dry_run"]``, count) the rows; return how many."""
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        if options["older_than"] is None and conf.get("HISTORY_RETENTION") is None:
            self.stdout.write(
                "SYMPHRA['HISTORY_RETENTION'] is None (keep forever) and no "
                "--older-than was given: nothing to prune."
            )
            return
        try:
            count = self.prune(options["older_than"], options)
        except (ValueError, ImproperlyConfigured) as exc:
            # A bad value, or a setup to fix (tables not migrated): one line.
            raise CommandError(str(exc)) from exc
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(f"{verb} {count} {self.rows_name}.")
