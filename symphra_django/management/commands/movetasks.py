"""``manage.py movetasks FROM TO``: move pending tasks between backend aliases."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from symphra_django.backends import backends
from symphra_django.backends.handler import unknown_alias
from symphra_django.exceptions import BackendUnavailable
from symphra_django.ops.moving import MoveError, QueueMove, move_tasks


class Command(BaseCommand):
    help = (
        "Move pending tasks (ready and delayed, with their ids, priorities, due "
        "times and attempts) from one SYMPHRA['BACKENDS'] alias to another: copy, "
        "verify, then delete at the source. Safe to run again after an "
        "interruption. Stop the source's workers first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", metavar="FROM_ALIAS")
        parser.add_argument("target", metavar="TO_ALIAS")
        parser.add_argument("--queue", action="append", dest="queues", metavar="NAME",
                            help="Queue to move; repeat for several (default: every queue of the source).")
        parser.add_argument("--batch-size", type=int, default=500, metavar="N",
                            help="Tasks copied per round trip (default: %(default)s).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Only say how many tasks each queue would move.")

    def handle(self, *args: Any, **options: Any) -> None:
        for alias in (options["source"], options["target"]):
            if alias not in backends:
                raise CommandError(unknown_alias(alias, backends.aliases()))
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            source, target = backends[options["source"]], backends[options["target"]]
            moves = move_tasks(source, target, options["queues"], batch_size=options["batch_size"],
                               dry_run=options["dry_run"], progress=self.report)
        except (MoveError, BackendUnavailable, ImproperlyConfigured) as exc:
            # A backend down, or a setup to fix (tables not migrated): one line.
            raise CommandError(str(exc)) from exc
        total = sum(m.pending for m in moves)
        verb = "would move" if options["dry_run"] else "moved"
        self.stdout.write(f"{verb} {total} task(s) from {options['source']} to {options['target']}")

    def report(self, move: QueueMove) -> None:
        if move.dry_run:
            self.stdout.write(f"{move.queue}: {move.pending} pending task(s) would move")
        elif move.removed:
            self.stdout.write(f"{move.queue}: done, {move.removed} removed at the source")
        else:
            done = move.copied + move.already_there
            self.stdout.write(f"{move.queue}: {done}/{move.pending} copied"
                              + (f" ({move.already_there} already there)" if move.already_there else ""))
