"""A snapshot of every configured backend alias and its queues.

Shared by the admin dashboard and ``manage.py taskstatus``. It uses only the
public ``QueueBackend`` contract, so custom backends appear like built-in ones;
a backend that cannot be reached (or a call it does not support) is reported,
never raised.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from symphra_django.backends import QueueBackend, backends
from symphra_django.backends.base import NotSupported
from symphra_django.exceptions import BackendUnavailable
from symphra_django.messages import QueueStats
from symphra_django.tasks.base import known_queues
from symphra_django.utils.secrets import mask_urls_in
from symphra_django.utils.timeouts import run_with_timeout

logger = logging.getLogger("symphra_django.status")

#: Seconds a page or the status command waits for a backend to connect
#: (one attempt, which may take longer against a server that never answers).
CONNECT_TIMEOUT = 3.0


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


def backend_for(alias: str, timeout: float = CONNECT_TIMEOUT) -> QueueBackend:
    """The connected backend of a configured alias (KeyError for an unknown
    alias), or BackendUnavailable if it is not connected within ``timeout``."""
    if alias not in backends.aliases():
        raise KeyError(alias)
    backend = backends[alias]
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


def backend_status(alias: str, timeout: float = CONNECT_TIMEOUT) -> BackendStatus:
    """Health and per-queue counts of one alias; never raises for a backend error."""
    if alias not in backends.aliases():
        raise KeyError(alias)
    try:
        backend = backends[alias]
    except Exception as exc:  # noqa: BLE001 - cannot even build it (its settings)
        return BackendStatus(alias=alias, description=alias, healthy=False, problem=problem_text(exc))
    status = BackendStatus(
        alias=alias, description=mask_urls_in(backend.describe()), healthy=False, durable=backend.durable
    )
    try:
        backend_for(alias, timeout)
    except Exception as exc:  # noqa: BLE001 - cannot connect it
        status.problem = problem_text(exc)
        return status
    status.healthy = backend.health_check_sync()
    if not status.healthy:
        status.problem = "health check failed"
        return status
    try:
        names = queue_names(backend)
    except Exception as exc:  # noqa: BLE001
        status.problem = problem_text(exc)
        return status
    status.queues = [queue_status(backend, name) for name in names]
    return status


def all_statuses(timeout: float = CONNECT_TIMEOUT) -> list[BackendStatus]:
    return [backend_status(alias, timeout) for alias in backends.aliases()]
