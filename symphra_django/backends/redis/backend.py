"""The Redis queue backend: atomic, batched Lua scripts over one hash-tagged key set per queue.

Configure it with a URL or by naming a django-redis ``CACHES`` alias::

    SYMPHRA = {"BACKENDS": {"default": {
        "BACKEND": "redis",
        "OPTIONS": {"cache": "default"},            # or "url": "redis://host:6379/0"
    }}}

Every state change (enqueue with de-duplication, claim with delayed→ready
promotion and expired-lease reclaim, ack, reject, lease extension) is one Lua
script run atomically by the server; claims and acks take whole batches, so a
worker needs one round trip per batch. The key layout is in
:mod:`~symphra_django.backends.redis.keys` and ``docs/backends/redis.md``.

Thread-safe: redis-py clients hold a connection pool.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured

from symphra_django.backends.base import QueueBackend, Wakeable, lease_expired_error
from symphra_django.backends.failed_store import FailedPage, FailedQuery, find_failed_by_listing, scan_failed
from symphra_django.backends.redis.client import ReconnectingClient
from symphra_django.backends.redis.connection import missing_packages, parse_url, url_from_cache
from symphra_django.backends.redis.keys import (
    MAX_COUNT,
    SCRIPT_BATCH,
    key_pattern,
    order_head,
    queue_from_key,
    queue_keys,
)
from symphra_django.backends.redis.wakeup import WakeListener
from symphra_django.backends.redis.workers import RedisWorkerRegistry
from symphra_django.exceptions import CorruptPayload
from symphra_django.messages import (
    CORRUPT_NAME,
    QueueStats,
    TaskMessage,
    corrupt_message,
    delivery_limit,
    message_or_stand_in,
)
from symphra_django.utils.identifiers import validate_identifier

logger = logging.getLogger("symphra_django.backends.redis")

T = TypeVar("T")
DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "symphra"
#: The delivery limit of a task stored with none (0, by a hand-made message
#: of an older version): what a task allowed one run gets.
UNSET_LIMIT = delivery_limit(0)
#: Longest text of ours (a reason, an error quoted in one) this backend logs
#: or stores about a message that cannot be handled normally.
REASON_LENGTH = 300


def _short(text: str, limit: int = REASON_LENGTH) -> str:
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]}... ({len(text)} characters in all)"


def _seconds(value: float, what: str) -> float:
    """A positive finite number of seconds (the scripts refuse anything else)."""
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be a positive finite number of seconds, got {value!r}")
    return seconds


class RedisBackend(RedisWorkerRegistry, QueueBackend):
    """Queues in Redis (one server, Sentinel or Cluster)."""

    def __init__(
        self,
        *,
        alias: str = "default",
        url: str | None = None,
        cache: str | None = None,
        queue_name: str = "default",
        pending_set: str | None = None,
        key_prefix: str | None = None,
        max_connections: int | None = None,
        socket_timeout: float | None = 5.0,
        lease_seconds: float | None = None,
        max_attempts: int | None = None,
        reconnect_timeout: float = 30.0,
    ) -> None:
        super().__init__(
            alias=alias, queue_name=queue_name, lease_seconds=lease_seconds,
            max_attempts=max_attempts,
        )
        if url is not None and cache is not None:
            raise ImproperlyConfigured(
                f"SYMPHRA['BACKENDS'][{alias!r}]['OPTIONS'] sets both 'url' and 'cache'; "
                "give one of them"
            )
        client_options: dict[str, Any] = {}
        if cache is not None:
            url, client_options = url_from_cache(cache)
        if max_connections is not None:
            client_options["max_connections"] = max_connections
        if socket_timeout is not None:
            client_options.setdefault("socket_timeout", socket_timeout)
        self.target = parse_url(url or DEFAULT_URL)
        # symphra-scheduler named its one sorted set "pending_set"; here it names the
        # namespace every queue's keys live under.
        self.key_prefix = validate_identifier(
            key_prefix or pending_set or DEFAULT_PREFIX, "key_prefix"
        )
        self._connection = ReconnectingClient(self.target, client_options, float(reconnect_timeout))
        self._wakeup = WakeListener(self._connection, key_pattern(self.key_prefix, "wake"))

    @classmethod
    def missing_packages(cls, options: dict[str, Any]) -> list[str]:
        return missing_packages(options)

    def describe(self) -> str:
        return f"RedisBackend({self.alias}, {self.target.display})"

    # -- connection -------------------------------------------------------------

    def connect_sync(self) -> None:
        """Connect: one attempt, bounded by the socket timeouts (``runscheduler`` retries)."""
        self._connection.connect()

    def disconnect_sync(self) -> None:
        self._wakeup.stop()
        self._connection.close()

    @property
    def wakes_workers(self) -> bool:  # type: ignore[override]  # a property over the base's plain attribute
        # Every filed task publishes (wakeup.py), so idle workers may sleep
        # until woken while the subscription lives, and poll when it is lost.
        return self._wakeup.subscribed

    def add_listener(self, event: Wakeable) -> None:
        self._wakeup.add(event)

    def remove_listener(self, event: Wakeable) -> None:
        self._wakeup.remove(event)

    def _connected(self) -> Any:
        return self._connection.connect()

    def _call(self, func: Callable[[Any], T]) -> T:
        return self._connection.call(func)

    def _script(self, name: str, queue: str, args: list[Any]) -> Any:
        keys = queue_keys(self.key_prefix, queue)
        run = self._connection.run_script
        return self._call(lambda client: run(name, client, keys, args))

    def _reported(self, name: str, queue: str, args: list[Any]) -> Any:
        """Run a script that replies ``[reply, action, what, reason, ...]``:
        log one line per malformed entry it met, return the reply."""
        reply = self._script(name, queue, args)
        self._log_reports(queue, reply)
        return reply[0]

    def _log_reports(self, queue: str, reply: list[Any]) -> int:
        """Log the reports that follow a script's reply (each names one
        malformed stored entry and what became of it); how many there were.

        The scripts never drop an entry without one: a task goes to the
        failed store, and only an index member naming no task is removed.
        """
        for i in range(1, len(reply) - 2, 3):
            action, what, reason = (part.decode("utf-8", "replace") for part in reply[i : i + 3])
            if action == "failed":
                logger.error(
                    "stored task %r on queue %r of %s is malformed; moved to the failed store: %s",
                    what, queue, self.describe(), reason,
                )
            else:
                logger.error(
                    "removed %r from queue %r of %s (no task to file in the failed store): %s",
                    what, queue, self.describe(), reason,
                )
        return (len(reply) - 1) // 3

    def _queue(self, queue: str | None) -> str:
        return validate_identifier(self.queue_for(queue), "queue name")

    # -- producing ------------------------------------------------------------------

    def enqueue_sync(
        self,
        task: TaskMessage,
        scheduled_time: datetime | float | None = None,
        priority: int | None = None,
    ) -> bool:
        self.prepare(task, scheduled_time, priority)
        return self._file("new", self._queue(task.queue), [task]) == 1

    def enqueue_many_sync(self, tasks: Iterable[TaskMessage]) -> int:
        by_queue: dict[str, list[TaskMessage]] = defaultdict(list)
        for task in tasks:
            by_queue[self._queue(task.queue)].append(task)
        return sum(self._file("new", queue, batch) for queue, batch in by_queue.items())

    def _file(self, mode: str, queue: str, tasks: list[TaskMessage]) -> int:
        filed = 0
        for start in range(0, len(tasks), SCRIPT_BATCH):
            args: list[Any] = [mode]
            for task in tasks[start : start + SCRIPT_BATCH]:
                head = order_head(task.priority, task.scheduled_time)
                args += [
                    task.id,
                    task.to_json(),
                    min(max(0, task.attempts), MAX_COUNT),
                    # The scripts compare deliveries with this number only:
                    # the rule that makes it lives in messages.delivery_limit.
                    min(delivery_limit(task.max_attempts), MAX_COUNT),
                    head,
                    repr(float(task.scheduled_time)),
                ]
            filed += int(self._reported("enqueue", queue, args))
        return filed

    # -- consuming --------------------------------------------------------------------

    def dequeue_sync(
        self,
        max_items: int = 1,
        *,
        queue: str | None = None,
        lease_seconds: float | None = None,
    ) -> list[TaskMessage]:
        name = self._queue(queue)
        lease = _seconds(lease_seconds or self.default_lease_seconds, "lease_seconds")
        out: list[TaskMessage] = []
        while len(out) < max_items:
            wanted = min(max_items - len(out), SCRIPT_BATCH)
            answer = self._script("claim", name, [wanted, lease, UNSET_LIMIT, uuid.uuid4().hex + ":"])
            reported = self._log_reports(name, answer)
            deadline, wait, items = float(answer[0][0]), answer[0][1], answer[0][2:]
            if wait:
                self._wakeup.wake_in(float(wait))
            unreadable = 0
            for i in range(0, len(items), 4):
                task_id, raw, attempts, token = items[i : i + 4]
                task_id, token = task_id.decode(), token.decode()
                task = self.decode_stored(raw, (name, task_id, token), queue=name, task_id=task_id)
                if task is None:
                    unreadable += 1
                    continue
                task.id, task.queue, task.attempts = task_id, name, int(attempts)
                task.lease_token, task.lease_expires = token, deadline
                out.append(task)
            # An entry that could not be handed out went to the failed store
            # (or, naming no task, was removed): top the batch up from the
            # tasks behind it.
            if len(items) < 4 * wanted and not unreadable and not reported:
                break
        return out

    def store_unreadable(self, entry: tuple[str, str, str], error: str) -> None:
        queue, task_id, token = entry
        record = json.dumps({"error": error, "traceback": None})
        self._reported("reject", queue, [task_id, token, "fail", record])

    def acknowledge_sync(self, task: TaskMessage) -> bool:
        return self.acknowledge_many_sync([task]) == 1

    def acknowledge_many_sync(self, tasks: Iterable[TaskMessage]) -> int:
        by_queue: dict[str, list[str]] = defaultdict(list)
        names: dict[str, str] = {}
        for task in tasks:
            if task.lease_token is not None:
                if task.queue not in names:
                    names[task.queue] = self._queue(task.queue)
                by_queue[names[task.queue]] += [task.id, task.lease_token]
        return sum(
            int(self._script("ack", queue, args[start : start + 2 * SCRIPT_BATCH]))
            for queue, args in by_queue.items()
            for start in range(0, len(args), 2 * SCRIPT_BATCH)
        )

    def reject_sync(
        self,
        task: TaskMessage,
        requeue: bool = False,
        *,
        delay: float = 0.0,
        error: str | None = None,
        traceback: str | None = None,
    ) -> bool:
        if task.lease_token is None:
            return False
        args: list[Any] = [task.id, task.lease_token]
        if requeue:
            try:
                args += ["requeue", *self._requeue_args(task, delay, error, traceback)]
            except Exception as exc:  # noqa: BLE001 - whatever the message holds
                # A message that cannot be filed again (a priority or time out
                # of range, a field that does not encode) must still answer its
                # lease: raising would leave it leased until the lease expires,
                # to fail the same way on its next delivery.
                reason = _short(f"{type(exc).__name__}: {exc}")
                logger.error(
                    "task %r (%r) cannot be put back for a retry; moved to the failed store: %s",
                    _short(str(task.name), 80), _short(str(task.id), 80), reason,
                )
                failure = f"cannot be put back for a retry ({reason})"
                if error is not None:
                    failure += f"; it failed with: {error}"
                args += ["fail", json.dumps({"error": failure, "traceback": traceback})]
        else:
            args += ["fail", json.dumps({"error": error, "traceback": traceback})]
        return int(self._reported("reject", self._queue(task.queue), args)) == 1

    @staticmethod
    def _requeue_args(
        task: TaskMessage, delay: float, error: str | None, traceback: str | None
    ) -> list[Any]:
        """The payload, ordering head and due time of a task put back after
        ``delay`` seconds; raises if the message cannot be stored again."""
        delay = float(delay)
        if math.isnan(delay):
            delay = 0.0
        back = task.copy(error=error, traceback=traceback, scheduled_time=time.time() + max(0.0, delay))
        return [back.to_json(), order_head(back.priority, back.scheduled_time), repr(back.scheduled_time)]

    def extend_lease_sync(self, task: TaskMessage, seconds: float | None = None) -> bool:
        if task.lease_token is None:
            return False
        lease = _seconds(seconds or self.default_lease_seconds, "seconds")
        reply = self._script("extend", self._queue(task.queue), [task.id, task.lease_token, lease])
        if reply is None:
            return False
        task.lease_expires = float(reply)
        return True

    # -- inspecting ----------------------------------------------------------------------

    def _inspect(self, queue: str, what: str, argument: Any = "") -> Any:
        return self._reported("inspect", queue, [what, UNSET_LIMIT, argument])

    def get_stats_sync(self, queue: str | None = None) -> QueueStats:
        ready, delayed, in_flight, failed, oldest = self._inspect(self._queue(queue), "stats")
        return QueueStats(
            ready=int(ready), delayed=int(delayed), in_flight=int(in_flight), failed=int(failed),
            oldest_due=float(oldest) if oldest is not None else None,
        )

    def get_queue_size_sync(self, queue: str | None = None) -> int:
        return self.get_stats_sync(queue).size

    def get_status_sync(self, task_id: str, queue: str | None = None) -> str | None:
        state = self._inspect(self._queue(queue), "status", task_id)
        return state.decode() if state is not None else None

    def peek_sync(self, queue: str | None = None, limit: int = 20) -> list[TaskMessage]:
        name = self._queue(queue)
        items = self._inspect(name, "peek", max(0, int(limit))) if limit > 0 else []
        tasks = []
        for i in range(0, len(items), 3):
            try:
                task = TaskMessage.from_json(items[i + 1])
            except CorruptPayload:
                continue  # shown by list_failed once a claim has failed it
            task.id, task.queue, task.attempts = items[i].decode(), name, int(items[i + 2])
            tasks.append(task)
        return tasks

    def queues_sync(self) -> list[str]:
        names: set[str] = set()
        for suffix in ("tasks", "failed"):
            pattern = key_pattern(self.key_prefix, suffix)

            def scan(client: Any, p: str = pattern) -> list[bytes]:
                return list(client.scan_iter(match=p, count=1000))

            keys = self._call(scan)
            names.update(queue_from_key(self.key_prefix, key.decode()) for key in keys)
        return sorted(names)

    def clear_sync(self, queue: str | None = None) -> int:
        return int(self._script("clear", self._queue(queue), []))

    def health_check_sync(self) -> bool:
        # One quick try, not the start-up retries: the admin must not hang.
        try:
            return self._connection.ping_once()
        except Exception:
            logger.debug("health check of %s failed", self.describe(), exc_info=True)
            return False

    # -- the failed store -------------------------------------------------------------------

    def get_task_sync(self, task_id: str, queue: str | None = None) -> TaskMessage | None:
        name = self._queue(queue)
        found = self._inspect(name, "task", task_id)
        if not found:
            return None
        if found[0] == b"failed":
            return self._failed_task(name, task_id, found[1])
        raw, attempts, token, deadline = found[1:5] + [None] * (5 - len(found))
        task, _ = message_or_stand_in(raw, queue=name, task_id=task_id)
        task.id, task.queue, task.attempts = task_id, name, int(attempts or 0)
        if deadline is not None:
            task.lease_token = token.decode() if token is not None else None
            task.lease_expires = float(deadline)
        return task

    def list_failed_sync(
        self, queue: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[TaskMessage]:
        name = self._queue(queue)
        items = self._script("failed", name, ["list", max(0, offset), max(0, limit)]) if limit > 0 else []
        return self._failed_tasks(name, items)

    def _failed_tasks(self, queue: str, items: list[bytes]) -> list[TaskMessage]:
        return [self._failed_task(queue, items[i].decode(), items[i + 1]) for i in range(0, len(items), 2)]

    def find_failed_sync(
        self, queue: str | None = None, query: FailedQuery | None = None, limit: int = 100, offset: int = 0
    ) -> FailedPage:
        """The ``failed_at`` index answers a failed-at range (and counts it)
        without reading the tasks outside it; other filters read the range."""
        query = query or FailedQuery()
        if query.failed_since is None and query.failed_until is None:
            return find_failed_by_listing(self, queue, query, limit, offset)
        name = self._queue(queue)
        low = "-inf" if query.failed_since is None else repr(float(query.failed_since))
        high = "+inf" if query.failed_until is None else f"({float(query.failed_until)!r}"

        def read(start: int, count: int) -> list[TaskMessage]:
            if count <= 0:
                return []
            return self._failed_tasks(name, self._script("failed", name, ["range", low, high, start, count]))

        if replace(query, failed_since=None, failed_until=None).is_empty:
            return FailedPage(read(max(0, offset), limit), int(self._script("failed", name, ["count", low, high])))
        return scan_failed(read, query, limit, offset)

    def _failed_task(self, queue: str, task_id: str, raw_record: bytes) -> TaskMessage:
        try:
            record = json.loads(raw_record.decode("utf-8", "replace"))
            payload = record["payload"]
        except Exception as exc:  # noqa: BLE001 - stored data may be anything
            reason = f"unreadable failed record: {type(exc).__name__}"
            return corrupt_message(raw_record, reason, queue=queue, task_id=task_id)
        task, _ = message_or_stand_in(payload, queue=queue, task_id=task_id)
        task.id, task.queue = task_id, queue
        task.attempts = int(record.get("attempts") or 0)
        task.traceback = record.get("traceback")
        if record.get("reason") == "lease_expired":
            task.error = lease_expired_error(task)
        elif record.get("error") is not None:
            task.error = record["error"]
        task.meta["failed_at"] = record.get("failed_at")
        return task

    def retry_failed_sync(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        name = self._queue(queue)
        ids = list(task_ids)
        if not ids:
            return 0
        failed_key = queue_keys(self.key_prefix, name)[7]
        records = self._call(lambda client: client.hmget(failed_key, ids))
        now = time.time()
        tasks = []
        for task_id, raw in zip(ids, records, strict=True):
            if raw is None:
                continue
            task = self._failed_task(name, task_id, raw)
            if task.name == CORRUPT_NAME:
                continue  # nothing runnable to put back
            task.scheduled_time, task.attempts = now, 0
            task.meta.pop("failed_at", None)
            tasks.append(task)
        return self._file("retry", name, tasks) if tasks else 0

    def delete_failed_sync(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        ids = list(task_ids)
        if not ids:
            return 0
        return int(self._script("failed", self._queue(queue), ["delete", *ids]))
