"""The worker registry: which ``runscheduler`` processes are alive, and what
each one is running now.

Each process stores one small JSON record in its backend (``save_worker``,
part of the :class:`~symphra_django.backends.base.QueueBackend` contract)
when it starts and again every ``SYMPHRA["HEARTBEAT_INTERVAL"]`` seconds.
A reader (the admin's Workers page, the health probes, ``taskstatus``) lists
the records with :func:`list_workers`: one whose last heartbeat is older than
``SYMPHRA["WORKER_TIMEOUT"]`` is shown as gone, and the backend drops it
:data:`GONE_KEPT` seconds later (the ``ttl`` each write passes).

The records are read from storage other programs may write to, so reading
one never raises: a record that is too long, not JSON, nested too deeply or
with fields of the wrong type becomes a :class:`WorkerRecord` whose
``unreadable`` says why, and the others are shown as usual.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from symphra_django.utils.text import NAME_LIMIT, shorten, shorten_name

if TYPE_CHECKING:
    from symphra_django.backends.base import QueueBackend

#: Longest stored record read, in characters; a longer one is shown as unreadable.
RECORD_LIMIT = 64 * 1024
#: Tasks running now that one record lists (it also says how many there are).
RUNNING_SHOWN = 50
#: Queues one record lists.
QUEUES_SHOWN = 100
#: Records one listing reads (the most recent heartbeats first where the
#: storage can order them).
LIST_LIMIT = 500
#: Seconds a gone worker's record is kept (and shown as gone) before the
#: backend removes it.
GONE_KEPT = 300.0

ALIVE = "alive"
STOPPING = "stopping"
GONE = "gone"
UNREADABLE = "unreadable"


class StoredWorker(NamedTuple):
    """One record as a backend's ``load_workers`` returns it."""

    worker_id: str
    #: The JSON text ``save_worker`` was given (or whatever the storage
    #: holds), or, for a record the backend did not fetch because it is
    #: longer than RECORD_LIMIT, its length.
    record: str | bytes | int
    #: Whether ``request_worker_stop`` was called since the worker registered.
    stop_requested: bool = False


@dataclass
class RunningTask:
    """A task a worker is running now."""

    id: str
    name: str
    queue: str
    #: Epoch seconds when this run started.
    started: float
    #: Epoch seconds when its lease runs out unless renewed (None: unknown).
    lease_expires: float | None = None


@dataclass
class WorkerRecord:
    """What one ``runscheduler`` process says about itself."""

    #: ``host:pid``.
    worker_id: str
    host: str = ""
    pid: int = 0
    version: str = ""
    #: The backend alias the process works for.
    backend: str = ""
    queues: list[str] = field(default_factory=list)
    #: Worker threads (0 for a beat-only process).
    threads: int = 0
    #: ``"main"``, or ``"child"`` for the extra processes of ``--processes``.
    role: str = "main"
    #: Whether this process runs the beat (periodic ticks).
    beat: bool = False
    #: When the beat last looked for due ticks (epoch seconds), if it runs.
    beat_at: float | None = None
    started_at: float = 0.0
    heartbeat_at: float = 0.0
    running: list[RunningTask] = field(default_factory=list)
    #: How many tasks it is running; ``running`` lists at most RUNNING_SHOWN.
    running_count: int = 0
    #: Set by the storage: someone asked this worker to stop accepting work.
    stop_requested: bool = False
    #: Set when the stored record could not be read: why.
    unreadable: str | None = None

    def to_json(self) -> str:
        """The text ``save_worker`` stores."""
        data = asdict(self)
        del data["stop_requested"], data["unreadable"]
        return json.dumps(data, separators=(",", ":"))

    def state(self, now: float, timeout: float) -> str:
        """``alive``, ``stopping``, ``gone`` (no heartbeat for ``timeout``
        seconds) or ``unreadable``."""
        if self.unreadable is not None:
            return UNREADABLE
        if now - self.heartbeat_at > timeout:
            return GONE
        return STOPPING if self.stop_requested else ALIVE

    @classmethod
    def from_stored(cls, stored: StoredWorker) -> WorkerRecord:
        """The record a backend returned; never raises (see the module's docstring)."""
        worker_id = shorten_name(stored.worker_id) if isinstance(stored.worker_id, str) else "?"
        try:
            record = _decode(worker_id, stored.record)
        except _Unreadable as exc:
            return cls(worker_id=worker_id, unreadable=str(exc))
        record.stop_requested = bool(stored.stop_requested)
        return record


class _Unreadable(ValueError):
    pass


def _decode(worker_id: str, raw: str | bytes | int) -> WorkerRecord:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raise _Unreadable(f"{raw:,} characters long (at most {RECORD_LIMIT:,} are read)")
    if not isinstance(raw, (str, bytes)):
        raise _Unreadable(f"stored as {type(raw).__name__}, not text")
    if len(raw) > RECORD_LIMIT:
        raise _Unreadable(f"{len(raw):,} characters long (at most {RECORD_LIMIT:,} are read)")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise _Unreadable("nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Unreadable(f"not JSON: {shorten(exc, NAME_LIMIT)}") from None
    if not isinstance(data, dict):
        raise _Unreadable(f"a JSON {type(data).__name__}, not an object")
    running = _list(data, "running", RUNNING_SHOWN)
    return WorkerRecord(
        worker_id=worker_id,
        host=_text(data, "host"),
        pid=int(_number(data, "pid")),
        version=_text(data, "version"),
        backend=_text(data, "backend"),
        queues=[shorten_name(q) if isinstance(q, str) else "?" for q in _list(data, "queues", QUEUES_SHOWN)],
        threads=int(_number(data, "threads")),
        role=_text(data, "role", "main"),
        beat=data.get("beat") is True,
        beat_at=_number(data, "beat_at", None),
        started_at=_number(data, "started_at"),
        heartbeat_at=_number(data, "heartbeat_at"),
        running=[_running(item) for item in running],
        running_count=max(int(_number(data, "running_count", len(running))), len(running)),
    )


def _running(item: Any) -> RunningTask:
    if not isinstance(item, dict):
        raise _Unreadable("a running task is not an object")
    return RunningTask(
        id=_text(item, "id"),
        name=_text(item, "name"),
        queue=_text(item, "queue"),
        started=_number(item, "started"),
        lease_expires=_number(item, "lease_expires", None),
    )


def _text(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise _Unreadable(f"{key!r} is not text")
    return shorten_name(value)


def _number(data: dict[str, Any], key: str, default: Any = 0.0) -> Any:
    value = data.get(key, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Unreadable(f"{key!r} is not a number")
    if not math.isfinite(value) or abs(value) > 1e12:
        raise _Unreadable(f"{key!r} is out of range")
    return float(value)


def _list(data: dict[str, Any], key: str, limit: int) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise _Unreadable(f"{key!r} is not a list")
    return value[:limit]


@dataclass
class WorkerListing:
    """The workers of one backend as :func:`list_workers` read them."""

    workers: list[WorkerRecord]
    #: False when the backend does not implement the worker registry.
    reported: bool = True

    def alive(self, now: float, timeout: float) -> list[WorkerRecord]:
        """The workers heard from within ``timeout`` seconds (stopping ones included)."""
        return [w for w in self.workers if w.state(now, timeout) in (ALIVE, STOPPING)]


def list_workers(backend: QueueBackend, limit: int = LIST_LIMIT) -> WorkerListing:
    """The worker records ``backend`` holds, newest heartbeat first;
    ``reported=False`` when the backend does not keep them. Errors of the
    backend itself (it is down) propagate."""
    from symphra_django.backends.base import NotSupported

    if not backend.reports_workers:
        return WorkerListing([], reported=False)
    try:
        stored = backend.load_workers_sync(limit)
    except NotSupported:
        return WorkerListing([], reported=False)
    records = [WorkerRecord.from_stored(item) for item in list(stored)[:limit]]
    records.sort(key=lambda r: (r.unreadable is not None, -r.heartbeat_at, r.worker_id))
    return WorkerListing(records)

