"""What ``runscheduler`` does: one Scheduler per process, signals, burst mode.

With ``processes > 1`` this process runs the beat and its own workers and
starts ``processes - 1`` worker-only child processes (spawned, so each has
its own interpreter, GIL and database connections). SIGTERM/SIGINT are passed
on to the children; each process shuts down gracefully on its own.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from dataclasses import asdict, dataclass, replace
from typing import Any

from symphra_django.runtime.scheduler import Scheduler, install_signal_handlers
from symphra_django.tasks.base import known_queues

logger = logging.getLogger("symphra_django.scheduler")


@dataclass(frozen=True)
class RunOptions:
    backend: str = "default"
    queues: list[str] | None = None
    workers: int = 4
    processes: int = 1
    batch_size: int | None = None
    beat: bool = True
    work: bool = True
    burst: bool = False
    shutdown_timeout: float | None = None
    log_level: int | None = None
    child: bool = False
    #: Serve Prometheus metrics on this port (the main process), and count
    #: task events in every process.
    metrics_port: int | None = None
    metrics_address: str = "0.0.0.0"


def configure_logging(level: int | None) -> None:
    """Log symphra_django at ``level``, to stderr unless LOGGING routes it."""
    if level is None:
        return
    log = logging.getLogger("symphra_django")
    log.setLevel(level)
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
        log.addHandler(handler)


def build_scheduler(options: RunOptions) -> Scheduler:
    if options.queues:
        unknown = sorted(set(options.queues) - known_queues())
        if unknown:
            raise ValueError(
                f"unknown queue(s) {', '.join(map(repr, unknown))}; known queues are "
                f"{', '.join(sorted(known_queues()))} (SYMPHRA['QUEUES'] and the queues tasks declare)"
            )
    return Scheduler(
        options.backend,
        queues=options.queues,
        workers=options.workers,
        batch_size=options.batch_size,
        shutdown_timeout=options.shutdown_timeout,
        beat=options.beat and not options.child,
        work=options.work,
        # The project's database holds them whatever the queue backend.
        stored_schedules=True,
        role="child" if options.child else "main",
    )


def run(options: RunOptions, requested: threading.Event | None = None) -> None:
    """Run one ``runscheduler`` process until a signal (or its burst ends).
    ``requested``: set by signal handlers already installed (a worker process
    installs them before Django starts, so an early SIGTERM is not lost)."""
    scheduler = build_scheduler(options)
    from symphra_django.tasks.registry import registry

    role = "child" if options.child else "main"
    logger.info(
        "runscheduler %s process %d starting: backend %s, queues %s, %d worker thread(s)%s%s%s",
        role, os.getpid(), scheduler.backend.describe(), ", ".join(scheduler.queue_names()),
        options.workers if options.work else 0,
        f", {options.processes} process(es)" if not options.child else "",
        ", beat on" if scheduler.beat_enabled else ", beat off",
        ", burst mode" if options.burst else "",
    )
    if not options.child:
        logger.info("%d task(s) declared, %d periodic", len(registry), len(registry.periodic()))
        # Before any child starts: a backend that stays down, or tables not
        # migrated, is then one error from this process, not one per child.
        scheduler.connect()
    server = start_metrics(options)
    children = [] if options.child or not options.work else _start_children(options)
    try:
        if options.burst:
            scheduler.run_burst()
        else:
            if requested is None:
                requested = threading.Event()
                install_signal_handlers(requested)
            if children:
                _forward_signals(children)
            scheduler.run_until(requested)
            if scheduler.stop_requested.is_set():
                # Asked through the worker registry, not by a signal the
                # children got too: they stop with this process.
                _terminate(children)
    finally:
        for child in children:
            child.join()
            if child.exitcode not in (0, None):
                logger.warning("worker process %s exited with code %s", child.pid, child.exitcode)
        if server is not None:
            server.shutdown()
            server.server_close()
    stats = scheduler.metrics.totals()
    # "failed" is what this process put in the failed store, as taskstatus
    # counts it: tasks that could not run at all included.
    unrunnable = f" ({stats.unrunnable} without running: unknown task or unreadable payload)" if stats.unrunnable else ""
    logger.info("runscheduler %s process %d stopped: %d run(s), %d succeeded, %d failed%s, %d retried",
                role, os.getpid(), stats.runs, stats.successes, stats.failures, unrunnable, stats.retries)


def metrics_problem(options: RunOptions) -> str | None:
    """Why ``--metrics-port`` cannot work with these options, or None."""
    from symphra_django import prometheus

    if options.metrics_port is None:
        return None
    if not 1 <= options.metrics_port <= 65535:
        return f"--metrics-port must be a port number from 1 to 65535, got {options.metrics_port}"
    if not prometheus.available():
        return f"--metrics-port: {prometheus.MISSING}"
    if options.processes > 1 and options.work and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return (
            "--metrics-port with --processes above 1 needs prometheus_client's multi-process mode: set "
            "the environment variable PROMETHEUS_MULTIPROC_DIR to an empty directory writable by this "
            "user before starting runscheduler (see docs/observability.md)"
        )
    return None


def start_metrics(options: RunOptions) -> Any:
    """Count task events in this process and, in the main process, serve
    them with the queue state on ``metrics_port``; the server, or None."""
    if options.metrics_port is None:
        return None
    from symphra_django import prometheus

    problem = metrics_problem(options)
    if problem is not None:
        raise ValueError(problem)
    prometheus.enable()
    if options.child:
        return None
    from prometheus_client import start_http_server

    try:
        server, _ = start_http_server(options.metrics_port, options.metrics_address,
                                      registry=prometheus.serving_registry())
    except OSError as exc:
        raise ValueError(f"--metrics-port: cannot listen on {options.metrics_address}:{options.metrics_port}: "
                         f"{exc.strerror or exc}") from None
    logger.info("serving Prometheus metrics on http://%s:%d/metrics", options.metrics_address, options.metrics_port)
    return server


def _start_children(options: RunOptions) -> list[Any]:
    context = multiprocessing.get_context("spawn")
    children = []
    # A worker process ignores SIGINT from its first instruction (an ignored
    # signal stays ignored across exec): see _child_main.
    ignore = not options.burst
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if ignore else None
    try:
        for _ in range(options.processes - 1):
            child = context.Process(target=_child_main, args=(asdict(replace(options, child=True)),),
                                    name="symphra-worker-process")
            child.start()
            children.append(child)
    finally:
        if ignore:
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
    return children


def _terminate(children: list[Any]) -> None:
    for child in children:
        if child.is_alive() and child.pid:
            try:
                os.kill(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def _forward_signals(children: list[Any]) -> None:
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def forward(signum: int, frame: Any) -> None:
        _terminate(children)
        handler = previous[signal.Signals(signum)]
        if callable(handler):
            handler(signum, frame)

    for sig in previous:
        signal.signal(sig, forward)


def _child_main(options: dict[str, Any]) -> None:
    # A worker process stops when the main process tells it to (SIGTERM),
    # even while it is still starting. Ctrl-C in a terminal reaches every
    # process of the foreground group at once, and the main process passes
    # it on: a worker that heard both would take the second for "exit now".
    # (A burst keeps the default handlers: it stops by finishing.)
    requested = None
    if not options.get("burst"):
        requested = threading.Event()
        install_signal_handlers(requested, (signal.SIGTERM,))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    import django

    django.setup()
    configure_logging(options.get("log_level"))
    run(RunOptions(**options), requested)
