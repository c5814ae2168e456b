"""``manage.py runscheduler``: run the beat and the workers."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from symphra_django import conf
from symphra_django.backends.handler import unknown_alias
from symphra_django.exceptions import BackendUnavailable
from symphra_django.runtime.processes import RunOptions, configure_logging, metrics_problem, run

#: What -v means here: the level the symphra_django loggers log at.
VERBOSITY_LEVELS = {0: logging.ERROR, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}
VERBOSITY_HELP = (
    "What runscheduler logs (to stderr, unless settings.LOGGING routes the symphra_django loggers): "
    "0 = errors only (tasks that failed for good, a backend that cannot be reached); "
    "1 = also warnings (retries, reconnections) and the start and stop lines, with the counts of "
    "tasks run, succeeded, failed and retried (the default); "
    "2 or 3 = also debug lines (each periodic tick enqueued)."
)


class Command(BaseCommand):
    help = (
        "Run symphra_django: the beat (enqueues periodic tasks on time) and the "
        "workers (run queued tasks). Stops gracefully on SIGTERM or Ctrl-C."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Django's -v help speaks of "output"; here -v sets what is logged.
        for action in parser._actions:
            if "--verbosity" in action.option_strings:
                action.help = VERBOSITY_HELP
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--backend", default="default", metavar="ALIAS",
                            help="Alias in SYMPHRA['BACKENDS'] to consume (default: %(default)s).")
        parser.add_argument("--queue", action="append", dest="queues", metavar="NAME",
                            help="Queue to consume; repeat for several (default: every known queue).")
        parser.add_argument("--workers", type=int, metavar="N",
                            help="Worker threads per process, at most; more than one claim only while they help (default: SYMPHRA['WORKERS']).")
        parser.add_argument("--processes", type=int, metavar="N",
                            help="Worker processes, for several cores (default: SYMPHRA['PROCESSES']).")
        parser.add_argument("--batch-size", type=int, metavar="N",
                            help="Tasks claimed per round trip (default: SYMPHRA['BATCH_SIZE']).")
        role = parser.add_mutually_exclusive_group()
        role.add_argument("--no-beat", action="store_true", help="Run workers only; enqueue no periodic tasks.")
        role.add_argument("--beat-only", action="store_true", help="Enqueue periodic tasks only; run no workers.")
        parser.add_argument("--burst", action="store_true",
                            help="Run what is due, then exit 0 once the queues hold nothing due.")
        parser.add_argument("--metrics-port", type=int, metavar="PORT",
                            help="Serve Prometheus metrics (task events of these processes, queue state of "
                                 "every backend) on http://ADDRESS:PORT/metrics; needs the prometheus extra. "
                                 "With --processes above 1, set PROMETHEUS_MULTIPROC_DIR.")
        parser.add_argument("--metrics-address", default="0.0.0.0", metavar="ADDRESS",
                            help="Address the metrics server listens on (default: %(default)s, every interface).")
        parser.add_argument("--shutdown-timeout", type=float, metavar="SECONDS",
                            help="Seconds to let running tasks finish after SIGTERM (default: "
                                 "SYMPHRA['SHUTDOWN_TIMEOUT']).")

    def handle(self, *args: Any, **options: Any) -> None:
        log_level = VERBOSITY_LEVELS.get(options["verbosity"], logging.INFO)
        configure_logging(log_level)
        for name in ("workers", "processes", "batch_size"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1, got {options[name]}")
        if options["shutdown_timeout"] is not None and options["shutdown_timeout"] < 0:
            raise CommandError("--shutdown-timeout must be >= 0")
        if options["beat_only"] and options["burst"]:
            raise CommandError("--burst runs workers; it cannot be combined with --beat-only")
        try:
            aliases = conf.get("BACKENDS")
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if options["backend"] not in aliases:
            raise CommandError(unknown_alias(options["backend"], aliases))
        run_options = RunOptions(
            backend=options["backend"],
            queues=options["queues"],
            workers=options["workers"] or conf.get("WORKERS"),
            processes=options["processes"] or conf.get("PROCESSES"),
            batch_size=options["batch_size"],
            beat=not options["no_beat"],
            work=not options["beat_only"],
            burst=options["burst"],
            shutdown_timeout=options["shutdown_timeout"],
            log_level=log_level,
            metrics_port=options["metrics_port"],
            metrics_address=options["metrics_address"],
        )
        problem = metrics_problem(run_options)
        if problem is not None:
            raise CommandError(problem)
        try:
            run(run_options)
        except (BackendUnavailable, ImproperlyConfigured, ValueError) as exc:
            raise CommandError(str(exc)) from exc
