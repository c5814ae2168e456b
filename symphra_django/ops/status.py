"""A snapshot of every configured backend alias and its queues.

Shared by the admin dashboard and ``manage.py taskstatus``. It uses only the
public ``QueueBackend`` contract, so custom backends appear like built-in ones;
a backend that cannot be reached (or a call it does not support) is reported,
never raised.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from symphra_django.backends import QueueBackend, backends
from symphra_django.backends.base import NotSupported
from symphra_django.exceptions import BackendUnavailable
from symphra_django.messages import QueueStats
from symphra_django.tasks.base import known_queues
from symphra_django.utils.secrets import mask_urls_in
from symphra_django.utils.timeouts import run_with_timeout

logger = logging.getLogger("symphra_django.status")

#: Seconds a page or the status command waits for the backends, all of them
#: together: each alias is gathered in its own thread, and one that has not
#: answered by then is shown as such (the others are unaffected).
CONNECT_TIMEOUT = 3.0

T = TypeVar("T")


@dataclass
class QueueStatus:
    alias: str
    queue: str
    stats: QueueStats | None = None
    #: Why there are no stats (unsupported, or the error raised).
    problem: str | None = None

    def oldest_due_age(self, now: float | None = None) -> float | None:
        """Seconds the oldest due task has been waiting, if any."""
        if self.stats is None or self.stats.oldest_due is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.stats.oldest_due)

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            **(self.stats.to_dict() if self.stats is not None else {}),
            "oldest_due_age": self.oldest_due_age(),
            "problem": self.problem,
        }


@dataclass
class BackendStatus:
    alias: str
    description: str
    healthy: bool
    queues: list[QueueStatus] = field(default_factory=list)
    problem: str | None = None
    #: Whether its tasks survive a restart (``QueueBackend.durable``); None
    #: when the backend could not even be built.
    durable: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "backend": self.description,
            "healthy": self.healthy,
            "durable": self.durable,
            "problem": self.problem,
            "queues": [q.to_dict() for q in self.queues],
        }


def problem_text(exc: BaseException) -> str:
    """An exception as one line a page may show (URLs masked)."""
    return mask_urls_in(f"{type(exc).__name__}: {exc}")


def backend_for(alias: str, timeout: float | None = None) -> QueueBackend:
    """The connected backend of a configured alias (KeyError for an unknown
    alias), or BackendUnavailable if it is not connected within ``timeout``
    (default: :data:`CONNECT_TIMEOUT`)."""
    if alias not in backends.aliases():
        raise KeyError(alias)
    backend = backends[alias]
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    if not backend.connected:
        run_with_timeout(
            backend.ensure_connected, timeout, name=f"symphra-status-{alias}",
            timed_out=lambda: BackendUnavailable(f"no connection within {timeout:g}s"),
        )
    return backend


def queue_names(backend: QueueBackend) -> list[str]:
    """Queues worth showing for a backend: configured, declared, and held."""
    names = known_queues(default_queue=backend.default_queue, backend=backend.alias)
    try:
        names |= set(backend.queues_sync())
    except NotSupported:
        pass
    return sorted(names)


def queue_status(backend: QueueBackend, queue: str) -> QueueStatus:
    status = QueueStatus(alias=backend.alias, queue=queue)
    try:
        status.stats = backend.get_stats_sync(queue)
    except NotSupported:
        try:
            status.stats = QueueStats(ready=backend.get_queue_size_sync(queue))
            status.problem = "this backend gives only a total (shown as ready)"
        except Exception as exc:  # noqa: BLE001 - reported on the page
            status.problem = problem_text(exc)
    except Exception as exc:  # noqa: BLE001
        status.problem = problem_text(exc)
    return status


class Progress:
    """What a gathering thread is doing, so that one past the deadline can say
    where it hangs ("connecting", "counting emails")."""

    def __init__(self) -> None:
        self.step = "starting"


def gather_status(backend: QueueBackend, status: BackendStatus, progress: Progress) -> BackendStatus:
    """Fill ``status`` from ``backend``: connect, health, queue counts. Never
    raises for a backend error; meant to run in a :func:`gather_per_alias` thread."""
    try:
        if not backend.connected:
            progress.step = "connecting"
            backend.ensure_connected()
        progress.step = "checking health"
        status.healthy = backend.health_check_sync()
        if not status.healthy:
            status.problem = "health check failed"
            return status
        progress.step = "listing queues"
        names = queue_names(backend)
    except Exception as exc:  # noqa: BLE001 - cannot connect or list it: shown as the cause
        status.healthy = False
        status.problem = problem_text(exc)
        return status
    for name in names:
        progress.step = f"counting {name}"
        status.queues.append(queue_status(backend, name))
    return status


@dataclass(frozen=True)
class TimedOut:
    """An alias whose work was not done within the deadline, and its last step."""

    timeout: float
    step: str

    def __str__(self) -> str:
        return f"no answer within {self.timeout:g}s ({self.step})"


def gather_per_alias(
    work: Callable[[str, Progress], T], aliases: Iterable[str], timeout: float, *, name: str
) -> dict[str, T | TimedOut | Exception]:
    """``work(alias, progress)`` for every alias at once, each in its own daemon
    thread, under ONE deadline of ``timeout`` seconds for all of them.

    Aliases are independent: one whose server hangs or refuses costs the
    others nothing, and the caller waits at most ``timeout`` whatever the
    number of aliases. An alias not done by then maps to :class:`TimedOut`
    (its thread is abandoned: Python cannot stop a thread; it ends on its
    backend's own socket timeouts and closes its database connections).
    An alias whose ``work`` raised maps to the exception.
    """
    aliases = list(dict.fromkeys(aliases))
    results: dict[str, T | Exception] = {}
    progress = {alias: Progress() for alias in aliases}
    finished = threading.Condition()

    def run(alias: str) -> None:
        from django.db import connections

        result: T | Exception
        try:
            result = work(alias, progress[alias])
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            result = exc
        finally:
            connections.close_all()  # this thread's own: it ends here
        with finished:
            results[alias] = result
            finished.notify_all()

    for alias in aliases:
        threading.Thread(
            target=contextvars.copy_context().run, args=(run, alias), name=f"{name}-{alias}", daemon=True
        ).start()
    with finished:
        finished.wait_for(lambda: len(results) == len(aliases), timeout=timeout)
        done = dict(results)
    return {
        alias: done[alias] if alias in done else TimedOut(timeout, progress[alias].step) for alias in aliases
    }


def new_status(alias: str) -> tuple[QueueBackend | None, BackendStatus]:
    """The backend of ``alias`` (None if it cannot be built) and its status,
    not yet gathered. Building touches no network: only its settings can fail."""
    try:
        backend = backends[alias]
    except Exception as exc:  # noqa: BLE001 - cannot even build it (its settings)
        return None, BackendStatus(alias=alias, description=alias, healthy=False, problem=problem_text(exc))
    return backend, BackendStatus(
        alias=alias, description=mask_urls_in(backend.describe()), healthy=False, durable=backend.durable
    )


def per_alias(
    gather: Callable[[QueueBackend, BackendStatus, Progress], T],
    aliases: Iterable[str] | None = None,
    timeout: float | None = None,
    *,
    name: str = "symphra-status",
) -> list[tuple[QueueBackend | None, BackendStatus, T | None]]:
    """``gather(backend, status, progress)`` for every alias (or for
    ``aliases``), in settings order, in parallel within ``timeout`` seconds
    overall (default: :data:`CONNECT_TIMEOUT`): each alias's backend (None if
    it cannot be built), its status, and what ``gather`` returned (None when
    the backend could not be built, ``gather`` raised or did not finish in
    time: the status then says why, masked, and where it hung).
    ``KeyError`` for an alias that is not configured.
    """
    configured = backends.aliases()
    wanted = configured if aliases is None else list(dict.fromkeys(aliases))
    for alias in wanted:
        if alias not in configured:
            raise KeyError(alias)
    built = {alias: new_status(alias) for alias in wanted}

    def work(alias: str, progress: Progress) -> T:
        backend, status = built[alias]
        assert backend is not None
        return gather(backend, status, progress)

    pending = [alias for alias, (backend, _) in built.items() if backend is not None]
    gathered = gather_per_alias(work, pending, CONNECT_TIMEOUT if timeout is None else timeout, name=name)
    results: list[tuple[QueueBackend | None, BackendStatus, T | None]] = []
    for alias in wanted:
        backend, status = built[alias]
        outcome = gathered.get(alias)
        if isinstance(outcome, (TimedOut, Exception)):
            # A fresh status: the abandoned thread may still write to its own.
            _, status = new_status(alias)
            status.problem = str(outcome) if isinstance(outcome, TimedOut) else problem_text(outcome)
            outcome = None
        results.append((backend, status, outcome))
    return results


def all_statuses(timeout: float | None = None, aliases: Iterable[str] | None = None) -> list[BackendStatus]:
    """Health and per-queue counts of every alias (or of ``aliases``), in
    settings order, gathered in parallel within ``timeout`` seconds overall
    (default: :data:`CONNECT_TIMEOUT`).

    Never raises for a backend error: an alias that is down carries its
    cause in ``problem`` (masked), one that did not answer in time says so
    and where it hung. ``KeyError`` for an alias that is not configured.
    """
    return [
        status if outcome is None else outcome
        for _, status, outcome in per_alias(gather_status, aliases, timeout)
    ]


def backend_status(alias: str, timeout: float | None = None) -> BackendStatus:
    """Health and per-queue counts of one alias within ``timeout`` seconds;
    never raises for a backend error (``KeyError`` for an unknown alias)."""
    [status] = all_statuses(timeout, [alias])
    return status
