"""A snapshot of every configured backend alias and its queues.

Shared by the admin dashboard and ``manage.py taskstatus``. It uses only the
public ``QueueBackend`` contract, so custom backends appear like built-in ones;
a backend that cannot be reached (or a call it does not support) is reported,
never raised.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import connections

from symphra_django import conf
from symphra_django.backends import QueueBackend, backends
from symphra_django.backends.base import NotSupported
from symphra_django.exceptions import BackendUnavailable
from symphra_django.messages import QueueStats
from symphra_django.tasks.registry import registry
from symphra_django.utils.secrets import mask_urls_in

logger = logging.getLogger("symphra_django.status")

#: Seconds a page or the status command waits for a backend to connect. A
#: backend that is down retries its first connection with backoff for longer
#: (SYMPHRA["CONNECT_RETRIES"]), which is right for a worker, not for a page.
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "backend": self.description,
            "healthy": self.healthy,
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
    outcome: dict[str, Any] = {}

    def connect() -> None:
        try:
            outcome["backend"] = backends[alias]
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            connections.close_all()  # this thread's own, if connecting opened one

    thread = threading.Thread(target=connect, name=f"symphra-status-{alias}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise BackendUnavailable(f"no connection within {timeout:g}s (it keeps retrying in the background)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["backend"]


def queue_names(backend: QueueBackend) -> list[str]:
    """Queues worth showing for a backend: configured, declared, and held."""
    names = set(conf.get("QUEUES")) | {backend.default_queue}
    names |= {task.queue for task in registry if task.backend == backend.alias}
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
        backend = backend_for(alias, timeout)
    except Exception as exc:  # noqa: BLE001 - cannot even build or connect it
        return BackendStatus(alias=alias, description=alias, healthy=False, problem=problem_text(exc))
    status = BackendStatus(
        alias=alias, description=mask_urls_in(backend.describe()), healthy=backend.health_check_sync()
    )
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
