"""``manage.py taskstatus``: every queue's counts and health, for people or scripts."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from symphra_django.ops.status import CONNECT_TIMEOUT, BackendStatus, all_statuses, backend_status

COLUMNS = ("alias", "queue", "ready", "delayed", "in flight", "failed", "oldest due", "health")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def table_rows(statuses: list[BackendStatus]) -> list[tuple[str, ...]]:
    rows = []
    for backend in statuses:
        health = "ok" if backend.healthy else f"DOWN ({backend.problem})"
        if not backend.queues:
            rows.append((backend.alias, "-", "", "", "", "", "", health))
        for q in backend.queues:
            if q.stats is None:
                rows.append((backend.alias, q.queue, "?", "?", "?", "?", "", f"{health}; {q.problem}"))
                continue
            s = q.stats
            rows.append((backend.alias, q.queue, str(s.ready), str(s.delayed), str(s.in_flight),
                         str(s.failed), _age(q.oldest_due_age()), health))
    return rows


class Command(BaseCommand):
    help = (
        "Show every configured backend alias and queue with its ready, delayed, "
        "in-flight and failed counts, the age of the oldest due task and the "
        "backend's health. Exits with status 1 when a backend is unhealthy, so it "
        "can serve as a health check."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--backend", action="append", dest="aliases", metavar="ALIAS",
                            help="Only this alias; repeat for several (default: every alias).")
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
        parser.add_argument("--timeout", type=float, default=CONNECT_TIMEOUT, metavar="SECONDS",
                            help="Wait this long for a backend to connect before calling it down "
                                 "(default: %(default)s).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            timeout = options["timeout"]
            statuses = ([backend_status(a, timeout) for a in options["aliases"]] if options["aliases"]
                        else all_statuses(timeout))
        except KeyError as exc:
            raise CommandError(f"unknown backend alias {exc.args[0]!r}") from None
        if options["json"]:
            self.stdout.write(json.dumps({"backends": [s.to_dict() for s in statuses]}, indent=2))
        else:
            self.stdout.write(self.format_table(table_rows(statuses)))
        unhealthy = [s.alias for s in statuses if not s.healthy]
        if unhealthy:
            raise CommandError(f"unhealthy backend(s): {', '.join(unhealthy)}", returncode=1)

    def format_table(self, rows: list[tuple[str, ...]]) -> str:
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(COLUMNS)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)).rstrip()]
        for row in rows:
            lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
        return "\n".join(lines)
