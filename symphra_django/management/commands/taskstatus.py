"""``manage.py taskstatus``: every queue's counts and health, for people or scripts."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from symphra_django.backends import backends
from symphra_django.backends.handler import unknown_alias
from symphra_django.messages import TaskMessage
from symphra_django.ops import health
from symphra_django.ops.status import CONNECT_TIMEOUT, BackendStatus, all_statuses, backend_for

logger = logging.getLogger("symphra_django.status")

COLUMNS = ("alias", "queue", "ready", "delayed", "in flight", "failed", "oldest due", "health")
FAILED_COLUMNS = ("alias", "queue", "id", "task", "attempts", "error")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def table_rows(statuses: list[BackendStatus]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
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


def failed_tasks(statuses: list[BackendStatus], limit: int) -> list[tuple[str, str, TaskMessage]]:
    """The newest ``limit`` failed tasks of every healthy queue that has some."""
    found: list[tuple[str, str, TaskMessage]] = []
    for backend in statuses:
        for q in backend.queues:
            if not backend.healthy or q.stats is None or not q.stats.failed:
                continue
            try:
                tasks = backend_for(backend.alias).list_failed_sync(q.queue, limit=limit)
            except Exception:
                logger.debug("cannot list the failed tasks of %s", q.queue, exc_info=True)
                continue
            found.extend((backend.alias, q.queue, task) for task in tasks)
    return found


def _error_line(task: TaskMessage) -> str:
    first = (task.error or "").strip().splitlines()
    return first[0][:100] if first else ""


class Command(BaseCommand):
    help = (
        "Show every configured backend alias and queue with its ready, delayed, "
        "in-flight and failed counts, the age of the oldest due task and the "
        "backend's health. Exits with status 1 when a backend is unhealthy, so it "
        "can serve as a health check. With --check, also checks that each configured "
        "queue has a live worker (exit status 3 otherwise) and that no queue's oldest "
        "due task waits longer than --max-due-age (exit status 4 otherwise)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--backend", action="append", dest="aliases", metavar="ALIAS",
                            help="Only this alias; repeat for several (default: every alias).")
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
        parser.add_argument("--failed", type=int, nargs="?", const=10, default=0, metavar="N",
                            help="Also list the newest N failed tasks of each queue (default N: "
                                 "%(const)s) with their attempts and error.")
        parser.add_argument("--timeout", type=float, default=CONNECT_TIMEOUT, metavar="SECONDS",
                            help="Wait this long, for all backends together, before calling the "
                                 "ones that have not answered down (default: %(default)s).")
        parser.add_argument("--check", action="store_true",
                            help="Health check for scripts and probes: exit 0 when every backend is "
                                 "reachable, every configured queue has a live worker (from the worker "
                                 "registry) and no oldest due task is too old; else exit 1 (a backend "
                                 "unreachable), 3 (a queue without a live worker) or 4 (a backlog older "
                                 "than --max-due-age), the first of these that applies.")
        parser.add_argument("--max-due-age", type=float, metavar="SECONDS",
                            help="With --check: the oldest due task may wait this long (default: "
                                 "SYMPHRA['MAX_DUE_AGE']).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["max_due_age"] is not None and not options["check"]:
            raise CommandError("--max-due-age needs --check")
        if options["max_due_age"] is not None and not options["max_due_age"] >= 0:
            raise CommandError("--max-due-age must be >= 0")
        report = None
        try:
            timeout = options["timeout"]
            if options["check"]:
                report = health.check(aliases=options["aliases"] or None, max_due_age=options["max_due_age"],
                                      timeout=timeout)
                statuses = [alias.status for alias in report.aliases]
            else:
                statuses = all_statuses(timeout, options["aliases"] or None)
        except KeyError as exc:
            raise CommandError(unknown_alias(exc.args[0], backends.aliases())) from None
        failed = failed_tasks(statuses, options["failed"]) if options["failed"] > 0 else None
        if options["json"]:
            data: dict[str, Any] = {"backends": [s.to_dict() for s in statuses]}
            if failed is not None:
                data["failed"] = [
                    {"alias": alias, "queue": queue, "id": t.id, "task": t.name, "attempts": t.attempts,
                     "max_attempts": t.max_attempts, "error": t.error}
                    for alias, queue, t in failed
                ]
            if report is not None:
                data["check"] = report.to_dict()
            self.stdout.write(json.dumps(data, indent=2))
        else:
            self.stdout.write(self.format_table(table_rows(statuses)))
            if failed:
                rows = [(alias, queue, t.id, t.name, t.attempts_display, _error_line(t))
                        for alias, queue, t in failed]
                self.stdout.write("\n" + self.format_table(rows, FAILED_COLUMNS))
            if report is not None:
                self.stdout.write("\n" + self.check_lines(report))
        if report is not None and report.exit_code:
            problems = [text for _, text in report.problems()]
            raise CommandError("; ".join(problems), returncode=report.exit_code)
        unhealthy = [s.alias for s in statuses if not s.healthy]
        if unhealthy:
            raise CommandError(f"unhealthy backend(s): {', '.join(unhealthy)}", returncode=1)

    def check_lines(self, report: health.HealthReport) -> str:
        """The workers of each alias and each failed check, for people."""
        lines = []
        for alias in report.aliases:
            if not alias.reachable:
                continue
            if alias.workers_problem:
                lines.append(f"{alias.alias}: cannot read the worker registry ({alias.workers_problem})")
            elif alias.workers is not None and not alias.workers.reported:
                lines.append(f"{alias.alias}: {health.NOT_REPORTED}")
            else:
                counts = ", ".join(f"{q.queue} {q.workers}" for q in alias.queues if q.workers is not None)
                lines.append(f"{alias.alias}: live workers per queue: {counts or '-'}")
        problems = report.problems()
        lines.extend(f"FAIL {text}" for _, text in problems)
        if not problems:
            lines.append("all checks passed")
        return "\n".join(lines)

    def format_table(self, rows: Sequence[tuple[str, ...]], columns: tuple[str, ...] = COLUMNS) -> str:
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
        for row in rows:
            lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        return "\n".join(lines)
