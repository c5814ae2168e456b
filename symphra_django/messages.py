"""The message a queue stores: a task call, its schedule and its delivery state.

Everything here is JSON. A backend stores :meth:`TaskMessage.to_json` (or the
dict from :meth:`TaskMessage.to_dict`) and rebuilds a message with
:meth:`TaskMessage.from_json`, the one decoder of stored data: it validates
every field and raises :class:`~symphra_django.exceptions.CorruptPayload` with a
short reason (whatever went wrong) instead of guessing. Nothing is ever
unpickled or evaluated.

How many times a message may be delivered is decided here too, once:
``max_attempts`` is the task's retry policy's (runs in all), and
:func:`delivery_limit` adds the fixed :data:`CRASH_REDELIVERIES`.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from symphra_django.exceptions import CorruptPayload
from symphra_django.utils.times import from_timestamp

PAYLOAD_VERSION = 1
DEFAULT_QUEUE = "default"
MIN_PRIORITY = -100
MAX_PRIORITY = 100

#: Deliveries a message gets beyond its ``max_attempts`` before a backend
#: treats it as poison. A lease that expires (worker killed, host lost) is not
#: the task's failure: even a ``no_retry`` task is redone after a crash, while
#: one that keeps killing its workers still ends in the failed store.
CRASH_REDELIVERIES = 2
#: Longest reason a CorruptPayload carries: it goes to logs and the failed
#: store, and a hostile payload must not be echoed back whole.
REASON_LENGTH = 300

#: States a task can be in inside a backend (see ``QueueBackend.get_status``).
READY = "ready"
DELAYED = "delayed"
IN_FLIGHT = "in_flight"
FAILED = "failed"
TASK_STATES = (READY, DELAYED, IN_FLIGHT, FAILED)
#: States of a task that is not finished: it may still run.
PENDING_STATES = (READY, DELAYED, IN_FLIGHT)


def new_task_id() -> str:
    """A random RFC 4122 version-4 UUID as 32 hex digits, like ``uuid4().hex``
    but without building a ``UUID`` object (a third of the time, per enqueue)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    return raw.hex()


@dataclass
class TaskMessage:
    """One task call as it travels through a queue.

    ``scheduled_time`` and the other times are epoch seconds (UTC); use
    :attr:`scheduled_at` for an aware datetime. ``attempts`` counts deliveries:
    a backend increments it each time it hands the message out.
    ``max_attempts`` is how many runs the task's retry policy allows (the
    first included); a backend delivers the message up to
    :func:`delivery_limit` times when leases expire. ``lease_token``
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

    @property
    def attempts_display(self) -> str:
        """``"N of M"``: deliveries so far and the runs allowed (logs, admin,
        ``taskstatus``; see :func:`attempts_display`)."""
        return attempts_display(self.attempts, self.max_attempts)

    @property
    def failed_at(self) -> float | None:
        """When the task went to the failed store (epoch seconds), as the
        failed store recorded it in ``meta["failed_at"]``; None if it is not
        failed or the record holds no valid time (meta comes from storage)."""
        meta = self.meta
        value = meta.get("failed_at") if isinstance(meta, dict) else None
        if type(value) not in (int, float):
            return None
        number = float(value)  # type: ignore[arg-type]  # an int or a float, checked above
        return number if math.isfinite(number) else None

    @property
    def failed_at_datetime(self) -> datetime | None:
        failed_at = self.failed_at
        return None if failed_at is None else from_timestamp(failed_at)

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
        # One shared compact encoder (_encode): json.dumps with separators
        # builds a new encoder for every message.
        return _encode(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> TaskMessage:
        """A message from a decoded payload; CorruptPayload (and nothing else)
        if it is not a valid one."""
        try:
            return cls._from_dict(data)
        except CorruptPayload:
            raise
        except Exception as exc:  # noqa: BLE001 - stored data may be anything
            raise CorruptPayload(_exception_reason(exc)) from None

    @classmethod
    def _from_dict(cls, data: Any) -> TaskMessage:
        if type(data) is not dict:
            raise CorruptPayload(f"payload is a {type(data).__name__}, not a JSON object")
        if data.get("v") != PAYLOAD_VERSION:
            raise CorruptPayload(f"unknown payload version {_brief(data.get('v'))}")
        scheduled_time, enqueued_at = _checked_fields(data.get)
        return cls(
            id=data["id"],
            name=data["name"],
            args=data["args"],
            kwargs=data["kwargs"],
            queue=data["queue"],
            priority=data["priority"],
            scheduled_time=scheduled_time,
            enqueued_at=enqueued_at,
            attempts=data["attempts"],
            max_attempts=data["max_attempts"],
            error=data["error"],
            traceback=data["traceback"],
            meta=data["meta"],
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> TaskMessage:
        """The one decoder of a stored payload (``str`` or UTF-8 ``bytes``).

        Every backend hands what it stored to this method. Anything that can
        go wrong turning stored data into a message (invalid UTF-8, invalid
        or too deeply nested JSON, wrong types, missing fields, numbers out of
        range) raises :class:`CorruptPayload` with a short reason naming the
        field, never another exception.
        """
        try:
            if not isinstance(raw, str):
                # Stored payloads are UTF-8: no guessing at other encodings.
                if isinstance(raw, (bytes, bytearray)):
                    raw = raw.decode("utf-8")
                elif isinstance(raw, memoryview):  # a BLOB column
                    raw = raw.tobytes().decode("utf-8")
                else:
                    raise CorruptPayload(f"payload is a {type(raw).__name__}, not text")
            data = _decoder.decode(raw)
        except CorruptPayload:
            raise
        except UnicodeDecodeError as exc:
            raise CorruptPayload(
                f"payload is not UTF-8 text (byte {exc.start}: {exc.reason})"
            ) from None
        except RecursionError:
            raise CorruptPayload("payload is not valid JSON: nested too deeply") from None
        except Exception as exc:  # noqa: BLE001 - stored data may be anything
            raise CorruptPayload(
                _bounded(f"payload is not valid JSON: {_exception_reason(exc)}")
            ) from None
        return cls.from_dict(data)

    def detached(self) -> TaskMessage:
        """A copy sharing nothing mutable with this message, as a server's
        copy would: arguments and meta go through JSON (so a non-JSON value
        raises ``TypeError`` here, as it would when a server-backed queue
        stores it). Unlike :meth:`copy` it does not validate the fields: for a
        store that keeps objects and validates what it delivers."""
        # Attribute by attribute, not through __dict__: reading an object's
        # __dict__ makes CPython build one for it, a second object per
        # message for the garbage collector to walk (a queue in memory holds
        # tens of thousands of them).
        clone = object.__new__(TaskMessage)
        clone.name, clone.id, clone.queue, clone.priority = self.name, self.id, self.queue, self.priority
        clone.scheduled_time, clone.enqueued_at = self.scheduled_time, self.enqueued_at
        clone.attempts, clone.max_attempts = self.attempts, self.max_attempts
        clone.error, clone.traceback = self.error, self.traceback
        clone.lease_token, clone.lease_expires, clone.created = self.lease_token, self.lease_expires, self.created
        args, kwargs, meta = self.args, self.kwargs, self.meta
        if type(args) is list and plain_values(args) and _flat_mapping(kwargs) and _flat_mapping(meta):
            # Flat, the usual case: shallow copies share nothing mutable.
            clone.args, clone.kwargs, clone.meta = list(args), dict(kwargs), dict(meta)
        else:
            clone.args, clone.kwargs, clone.meta = _decoder.decode(_encode([args, kwargs, meta]))
        return clone

    def checked_copy(self) -> TaskMessage:
        """:meth:`detached`, after the checks :meth:`from_dict` makes of a
        stored payload (``CorruptPayload`` if they fail): how a store that
        keeps objects hands one out, without building a dict in between."""
        try:
            scheduled_time, enqueued_at = _checked_fields(partial(getattr, self))
            clone = self.detached()
        except CorruptPayload:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever was planted in the fields
            raise CorruptPayload(_exception_reason(exc)) from None
        clone.scheduled_time, clone.enqueued_at = scheduled_time, enqueued_at
        return clone

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


_decoder = json.JSONDecoder()
_PLAIN = frozenset((str, int, bool, type(None)))


def _flat_mapping(value: Any) -> bool:
    """A dict of str keys to plain values (see :func:`plain_values`)."""
    return type(value) is dict and (
        not value or (plain_values(value.values()) and all(type(key) is str for key in value))
    )


def plain_values(values: Iterable[Any]) -> bool:
    """Whether every value is a JSON scalar that reads back as itself: a str,
    int, bool, None or finite float (exact types, no subclasses)."""
    for value in values:
        kind = type(value)
        if kind not in _PLAIN and not (kind is float and math.isfinite(value)):
            return False
    return True
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _field_problem(get: Callable[[str, Any], Any], key: str) -> str:
    value = get(key, _MISSING)
    if value is _MISSING:
        return f"payload has no {key!r}"
    return f"payload field {key!r} has the wrong type ({type(value).__name__})"


def _checked_fields(get: Callable[[str, Any], Any]) -> tuple[float, float]:
    """CorruptPayload unless the fields that ``get(name, default)`` reads (a
    decoded payload's ``get``, or ``getattr`` on a message) are valid
    message fields; its two times as floats."""
    # Exact type checks: what json.loads produces, and bool is not an int here.
    # This runs for every delivered task, so it stays one cheap loop.
    for key, allowed in _FIELD_TYPES:
        if type(get(key, _MISSING)) not in allowed:
            raise CorruptPayload(_field_problem(get, key))
    priority = get("priority", 0)
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise CorruptPayload(
            f"payload field 'priority' is outside {MIN_PRIORITY}..{MAX_PRIORITY}"
        )
    # float() of a huge int raises OverflowError (reported as such);
    # 1e999 parses as inf and NaN is accepted by json.loads.
    scheduled_time = float(get("scheduled_time", 0))
    enqueued_at = float(get("enqueued_at", 0))
    if not math.isfinite(scheduled_time):
        raise CorruptPayload("payload field 'scheduled_time' is not a finite number")
    if not math.isfinite(enqueued_at):
        raise CorruptPayload("payload field 'enqueued_at' is not a finite number")
    if get("attempts", 0) < 0:
        raise CorruptPayload("payload field 'attempts' is negative")
    if get("max_attempts", 0) < 0:
        raise CorruptPayload("payload field 'max_attempts' is negative")
    return scheduled_time, enqueued_at


def _bounded(text: str, limit: int = REASON_LENGTH) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _brief(value: Any) -> str:
    """A short repr of a value read from storage (which may be huge)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        try:
            return _bounded(repr(value), 60)
        except ValueError:  # an int too long to print
            return "a very long number"
    return f"a {type(value).__name__}"


def _exception_reason(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001
        text = ""
    return _bounded(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def delivery_limit(max_attempts: int) -> int:
    """How many deliveries a message whose task may run ``max_attempts`` times
    gets before a lease that keeps expiring sends it to the failed store.

    The one place crash redeliveries are added: every backend's "lease
    expired too often" rule calls this (the Redis backend passes its result
    to its scripts).
    """
    return max(1, max_attempts) + CRASH_REDELIVERIES


def attempts_display(attempts: int, max_attempts: int) -> str:
    """The one way logs, the admin and ``taskstatus`` show attempts.

    ``"N of M"``: N deliveries so far (the running one included) of the M
    runs the task's retry policy allows, so a task without retries reads
    ``"1 of 1"`` when it runs, and a waiting task that never ran ``"0 of 1"``.
    Deliveries past M can only be redeliveries after lost leases (a crashed
    worker, at most :data:`CRASH_REDELIVERIES`), and say so:
    ``"3 of 1 (2 crash redeliveries)"``.
    """
    runs = max(1, max_attempts)
    if attempts <= runs:
        return f"{attempts} of {runs}"
    extra = attempts - runs
    return f"{attempts} of {runs} ({extra} crash redeliver{'y' if extra == 1 else 'ies'})"


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


#: The task name of the stand-in for a stored payload that could not be read.
CORRUPT_NAME = "<corrupt>"


def corrupt_message(raw: Any, reason: str, *, queue: str, task_id: str | None = None) -> TaskMessage:
    """A stand-in message for a payload that could not be read, for the failed store."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        text = bytes(raw[:40_000]).decode("utf-8", "replace")
    else:
        text = str(raw)[:10_000]
    return TaskMessage(
        name=CORRUPT_NAME,
        id=task_id or new_task_id(),
        queue=queue,
        error=f"corrupt payload: {reason}",
        meta={"raw": text[:10_000]},
    )


def message_or_stand_in(
    raw: Any, *, queue: str, task_id: str | None = None
) -> tuple[TaskMessage, str | None]:
    """For readers of stored messages (peek, the failed store): the decoded
    message and None, or a ``<corrupt>`` stand-in and the reason."""
    try:
        return TaskMessage.from_json(raw), None
    except CorruptPayload as exc:
        reason = str(exc)
        return corrupt_message(raw, reason, queue=queue, task_id=task_id), reason
