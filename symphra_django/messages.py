"""The message a queue stores: a task call, its schedule and its delivery state.

Everything here is JSON. A backend stores :meth:`TaskMessage.to_json` (or the
dict from :meth:`TaskMessage.to_dict`) and rebuilds a message with
:meth:`TaskMessage.from_json`, which validates every field and raises
:class:`~symphra_django.exceptions.CorruptPayload` with the reason instead of
guessing. Nothing is ever unpickled or evaluated.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from symphra_django.exceptions import CorruptPayload
from symphra_django.utils.times import from_timestamp, to_timestamp

PAYLOAD_VERSION = 1
DEFAULT_QUEUE = "default"
MIN_PRIORITY = -100
MAX_PRIORITY = 100

#: States a task can be in inside a backend (see ``QueueBackend.get_status``).
READY = "ready"
DELAYED = "delayed"
IN_FLIGHT = "in_flight"
FAILED = "failed"
TASK_STATES = (READY, DELAYED, IN_FLIGHT, FAILED)
#: States of a task that is not finished: it may still run.
PENDING_STATES = (READY, DELAYED, IN_FLIGHT)


def new_task_id() -> str:
    return uuid.uuid4().hex


@dataclass
class TaskMessage:
    """One task call as it travels through a queue.

    ``scheduled_time`` and the other times are epoch seconds (UTC); use
    :attr:`scheduled_at` for an aware datetime. ``attempts`` counts deliveries:
    a backend increments it each time it hands the message out. ``lease_token``
    and ``lease_expires`` are set by ``dequeue`` and identify the delivery that
    an ``acknowledge``/``reject``/``extend_lease`` answers.
    """

    name: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_task_id)
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    scheduled_time: float = field(default_factory=time.time)
    enqueued_at: float = field(default_factory=time.time)
    attempts: int = 0
    max_attempts: int = 1
    error: str | None = None
    traceback: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Delivery state: not part of the stored payload.
    lease_token: str | None = field(default=None, compare=False)
    lease_expires: float | None = field(default=None, compare=False)
    #: Set by ``Task.enqueue``: False when the id was already queued (C2).
    created: bool | None = field(default=None, compare=False)

    @property
    def scheduled_at(self) -> datetime:
        return from_timestamp(self.scheduled_time)

    @property
    def enqueued_at_datetime(self) -> datetime:
        return from_timestamp(self.enqueued_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": PAYLOAD_VERSION,
            "id": self.id,
            "name": self.name,
            "args": self.args,
            "kwargs": self.kwargs,
            "queue": self.queue,
            "priority": self.priority,
            "scheduled_time": self.scheduled_time,
            "enqueued_at": self.enqueued_at,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "error": self.error,
            "traceback": self.traceback,
            "meta": self.meta,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Any) -> TaskMessage:
        if type(data) is not dict:
            raise CorruptPayload(f"payload is a {type(data).__name__}, not a JSON object")
        if data.get("v") != PAYLOAD_VERSION:
            raise CorruptPayload(f"unknown payload version {data.get('v')!r}")
        # Exact type checks: what json.loads produces, and bool is not an int here.
        # This runs for every delivered task, so it stays one cheap loop.
        for key, allowed in _FIELD_TYPES:
            if type(data.get(key, _MISSING)) not in allowed:
                raise CorruptPayload(_field_problem(data, key))
        return cls(
            id=data["id"],
            name=data["name"],
            args=data["args"],
            kwargs=data["kwargs"],
            queue=data["queue"],
            priority=data["priority"],
            scheduled_time=float(data["scheduled_time"]),
            enqueued_at=float(data["enqueued_at"]),
            attempts=data["attempts"],
            max_attempts=data["max_attempts"],
            error=data["error"],
            traceback=data["traceback"],
            meta=data["meta"],
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> TaskMessage:
        try:
            data = json.loads(raw)
        except (TypeError, ValueError) as exc:
            raise CorruptPayload(f"payload is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def copy(self, **changes: Any) -> TaskMessage:
        data = self.to_dict()
        data.update(changes)
        clone = TaskMessage.from_dict(data)
        return clone


_MISSING = object()
_NUMBER = (int, float)
_FIELD_TYPES: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("id", (str,)),
    ("name", (str,)),
    ("args", (list,)),
    ("kwargs", (dict,)),
    ("queue", (str,)),
    ("priority", (int,)),
    ("scheduled_time", _NUMBER),
    ("enqueued_at", _NUMBER),
    ("attempts", (int,)),
    ("max_attempts", (int,)),
    ("error", (str, type(None))),
    ("traceback", (str, type(None))),
    ("meta", (dict,)),
)


def _field_problem(data: dict, key: str) -> str:
    if key not in data:
        return f"payload has no {key!r}"
    return f"payload field {key!r} has the wrong type ({type(data[key]).__name__})"


@dataclass(frozen=True)
class QueueStats:
    """Counts for one queue. ``size`` is what ``get_queue_size`` returns (C10)."""

    ready: int = 0
    delayed: int = 0
    in_flight: int = 0
    failed: int = 0
    oldest_due: float | None = None

    @property
    def size(self) -> int:
        return self.ready + self.delayed + self.in_flight

    def to_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "delayed": self.delayed,
            "in_flight": self.in_flight,
            "failed": self.failed,
            "size": self.size,
            "oldest_due": self.oldest_due,
        }


def corrupt_message(raw: Any, reason: str, *, queue: str, task_id: str | None = None) -> TaskMessage:
    """A stand-in message for a payload that could not be read, for the failed store."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return TaskMessage(
        name="<corrupt>",
        id=task_id or new_task_id(),
        queue=queue,
        error=f"corrupt payload: {reason}",
        meta={"raw": text[:10_000]},
    )
