"""The RabbitMQ backend (pika): confirmed, durable, delayed without plugins.

How the pieces fit (docs/backends/rabbitmq.md has the pictures):

* ``rabbitmq_link.BrokerLink`` — one connection and channel owned by one I/O
  thread; every other thread marshals its calls to it (pika is not
  thread-safe). Publisher confirms with ``mandatory``, one consumer per work
  queue with a bounded prefetch, acks batched with ``multiple``, reconnection.
* ``rabbitmq_topology.Topology`` — exchange/queue names, priorities, and the
  binary ladder of TTL queues that delays messages without a plugin.
* ``rabbitmq_ledger.Ledger`` — one row per unfinished task in the project
  database: de-duplication of ids (C2), states for stats, and which copy of a
  message is current, so a stale or duplicate copy is dropped, never run.
* ``rabbitmq_inbox`` — prefetched deliveries, ordered exactly (C4), and the
  leases this process has handed out (C5/C6), expired by a reaper thread.
* ``rabbitmq_publisher`` — a task as a message: body, headers, route.
* ``rabbitmq_failed`` — the failed queues, browsed for the admin.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from functools import partial

from django.db import connections, transaction

from symphra_django.exceptions import CorruptPayload, MissingPackage

try:
    import pika
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingPackage("pika", needed_by="The RabbitMQ backend", extra="rabbitmq") from exc

from symphra_django.backends.base import Listeners, NotSupported, QueueBackend, Wakeable, lease_expired_error
from symphra_django.backends.database.workers import SQLWorkerRegistry
from symphra_django.backends.failed_store import FailedPage, FailedQuery
from symphra_django.backends.rabbitmq.failed import FailedStore, Wanted
from symphra_django.backends.rabbitmq.inbox import Delivery, Held, Inbox, Lease, LeaseTable
from symphra_django.backends.rabbitmq.ledger import FAILED as LEDGER_FAILED
from symphra_django.backends.rabbitmq.ledger import IN_FLIGHT as LEDGER_IN_FLIGHT
from symphra_django.backends.rabbitmq.ledger import QUEUED, Entry, Ledger
from symphra_django.backends.rabbitmq.link import BrokerLink
from symphra_django.backends.rabbitmq.publisher import SIGNATURE, TASK_ID, TOKEN, Publisher
from symphra_django.backends.rabbitmq.topology import Topology
from symphra_django.backends.sqlite_wal import Checkpointer, keeps_a_log
from symphra_django.messages import (
    DELAYED,
    FAILED,
    IN_FLIGHT,
    READY,
    QueueStats,
    TaskMessage,
    corrupt_message,
    new_task_id,
)
from symphra_django.utils.identifiers import validate_identifier
from symphra_django.utils.secrets import mask_url

logger = logging.getLogger("symphra_django.backends.rabbitmq")

#: How long an empty queue is not asked about again (see ``_take``).
QUIET_SECONDS = 0.05
#: The same when the ledger said nothing at all is due: idle workers then
#: cost one ledger query per queue a second, not one per claim. Work that
#: arrives wakes them by itself (a delivery, or this process publishing).
IDLE_QUIET_SECONDS = 1.0
#: How long a queue's first claim waits for the deliveries the broker holds
#: ready (up to the prefetch window) so that its first batch is the best (C4);
#: it waits on while they keep arriving, at most FIRST_CLAIM_CAP in all.
FIRST_CLAIM_WAIT = 0.3
FIRST_CLAIM_CAP = 2.0
#: The same for a later claim that finds the inbox empty while the ledger
#: says tasks are due (deliveries on their way, e.g. after a reconnect).
DUE_WAIT = 0.1
DUE_CAP = 0.5
#: A pause between two deliveries longer than this ends the waits above.
ARRIVAL_GAP = 0.05
#: Every ledger token is a uuid4 in hex; a header of any other shape was not
#: written by this backend (and is never handed to the ledger's SQL).
_TOKEN_SHAPE = re.compile(r"[0-9a-f]{32}")


class RabbitMQBackend(SQLWorkerRegistry, QueueBackend):
    """Tasks in RabbitMQ queues; see the module docstring for the design.

    Thread-safe: one instance is shared by every worker thread of a process.
    """

    #: Every task reaches a consumer as a delivery (due now, out of the delay
    #: ladder, or returned by the broker), and a delivery wakes the workers.
    wakes_workers = True

    def __init__(
        self,
        *,
        alias: str = "default",
        url: str = "amqp://guest:guest@127.0.0.1:5672/%2F",
        queue_name: str = "default",
        exchange_name: str = "symphra",
        durable: bool = True,
        max_priority: int = 10,
        prefetch: int = 256,
        lease_seconds: float | None = None,
        max_attempts: int | None = None,
        database: str = "default",
    ) -> None:
        super().__init__(
            alias=alias, queue_name=queue_name, lease_seconds=lease_seconds, max_attempts=max_attempts
        )
        if not isinstance(max_priority, int) or isinstance(max_priority, bool) or not 0 <= max_priority <= 255:
            raise ValueError(f"max_priority must be an integer from 0 to 255, got {max_priority!r}")
        if not isinstance(prefetch, int) or isinstance(prefetch, bool) or prefetch < 1:
            raise ValueError(f"prefetch must be an integer >= 1, got {prefetch!r}")
        if not isinstance(url, str) or not url.startswith(("amqp://", "amqps://")):
            raise ValueError(f"url must start with amqp:// or amqps://, got {mask_url(url)!r}")
        self.masked_url = mask_url(url)
        self.prefetch = prefetch
        self.durable = bool(durable)
        self.topology = Topology(
            validate_identifier(exchange_name, "exchange_name"), durable=self.durable, max_priority=max_priority
        )
        self.ledger = Ledger(self.topology.namespace, database)
        self._work_prefix = len(self.topology.work_queue(""))
        self.database_aliases = (database,)
        self._parameters = pika.URLParameters(url)
        self.publisher = Publisher(self.topology, durable=self.durable, link=lambda: self.link, label=self.masked_url)
        self.failed = FailedStore(
            self._parameters, ledger=self.ledger, publisher=self.publisher, ensure_queue=self._ensure_queue
        )
        self._inboxes: dict[str, Inbox] = defaultdict(Inbox)
        self._listeners = Listeners()
        self._leases = LeaseTable()
        self._lock = threading.Condition()
        self._declare_lock = threading.Lock()
        # Queues declared on the current connection; the topology remembers
        # every queue ever declared (to list and delete them).
        self._declared: set[str] = set()
        self._connect_lock = threading.Lock()
        self._link: BrokerLink | None = None
        self._reaper: threading.Thread | None = None
        self._stopping = threading.Event()
        # Lease tokens only need to be unique: a random prefix and a counter.
        self._lease_prefix = uuid.uuid4().hex[:16]
        self._lease_numbers = itertools.count()
        self._checkpointer = Checkpointer()

    @property
    def worker_database(self) -> str:
        """The worker registry lives beside the ledger, in its database."""
        return self.ledger.database

    @property
    def worker_namespace(self) -> str:
        return self.topology.namespace

    @property
    def wants_upkeep(self) -> bool:  # type: ignore[override]  # a property over the base's plain attribute
        return keeps_a_log(connections[self.ledger.database])

    def upkeep(self) -> float:
        """Fold the ledger's SQLite write-ahead log back
        (``symphra_django.backends.sqlite_wal``): every claim and
        acknowledgement writes to it."""
        return self._checkpointer.checkpoint(connections[self.ledger.database])

    def describe(self) -> str:
        return f"RabbitMQBackend({self.alias}, {self.masked_url}, exchange={self.topology.namespace})"

    # -- lifecycle -----------------------------------------------------------------

    def connect_sync(self) -> None:
        """Connect and declare the topology: one attempt (``runscheduler``
        retries at start); ``BackendUnavailable`` if the broker cannot be reached."""
        with self._connect_lock:
            if self._link is None:
                self._connect()

    def _connect(self) -> None:
        link = BrokerLink(
            self._parameters, label=self.masked_url, prefetch=self.prefetch,
            on_delivery=self._on_delivery, on_lost=self._on_lost,
        )
        link.start(retries=0)
        self._link = link
        try:
            link.declare(self.topology.base_declarations())
            self._ensure_queue(self.default_queue)
        except BaseException:
            # Half connected is not connected: the next use starts over.
            self._link = None
            self._declared.clear()
            link.stop()
            raise
        self._stopping.clear()
        self._reaper = threading.Thread(target=self._reap_forever, name=f"symphra-leases-{self.alias}", daemon=True)
        self._reaper.start()

    def disconnect_sync(self) -> None:
        self._stopping.set()
        if self._reaper is not None:
            self._reaper.join(10)
            self._reaper = None
        if self._link is not None:
            self._link.stop()
            self._link = None
        with self._lock:
            self._inboxes.clear()
            self._leases = LeaseTable()
        self._declared.clear()

    @property
    def link(self) -> BrokerLink:
        if self._link is None:
            self.connect_sync()
        assert self._link is not None
        return self._link

    # -- topology --------------------------------------------------------------------

    def _ensure_queue(self, queue: str) -> None:
        if queue in self._declared:
            return
        validate_identifier(queue, "queue name")
        # Connect before taking the lock: connecting declares the default
        # queue through this method, and the lock is not reentrant (a backend
        # used again after disconnect_sync() would wait for itself forever).
        link = self.link
        with self._declare_lock:
            if queue not in self._declared:
                link.declare(self.topology.queue_declarations(queue))
                self._declared.add(queue)
                self.topology.declared_queues.add(queue)

    def _ensure_consumer(self, queue: str) -> bool:
        """Start consuming ``queue``; True if this call started it."""
        self._ensure_queue(queue)
        inbox = self._inboxes[queue]
        if inbox.consuming:
            return False
        self.link.consume(self.topology.work_queue(queue))
        inbox.consuming = True
        inbox.started = time.monotonic()
        return True

    # -- producing ------------------------------------------------------------------------

    def enqueue_sync(
        self,
        task: TaskMessage,
        scheduled_time: datetime | float | None = None,
        priority: int | None = None,
    ) -> bool:
        self.prepare(task, scheduled_time, priority)
        return self.enqueue_many_sync([task]) == 1

    def enqueue_many_sync(self, tasks: Iterable[TaskMessage]) -> int:
        by_queue: dict[str, list[TaskMessage]] = defaultdict(list)
        for task in tasks:
            by_queue[task.queue].append(task)
        added = 0
        for queue, batch in by_queue.items():
            self._ensure_queue(queue)
            entries = {}
            for task in batch:
                if task.id not in entries:
                    entries[task.id] = Entry(task.id, uuid.uuid4().hex, task.scheduled_time)
            accepted = self.ledger.add(queue, list(entries.values()))
            tokens = {entry.task_id: entry.token for entry in accepted}
            outgoing = [self.publisher.message(task, tokens.pop(task.id)) for task in batch if task.id in tokens]
            self._inboxes[queue].quiet_until = 0.0
            if self.ledger.in_transaction():
                # The rows become visible at commit: a message published now
                # would find none and be dropped as stale. Publish at commit
                # (nothing at all on rollback), as Django's on_commit does.
                transaction.on_commit(partial(self.publisher.publish, outgoing), using=self.ledger.database)
            else:
                try:
                    self.publisher.publish(outgoing)
                except Exception:
                    self.ledger.forget(queue, accepted)
                    raise
            added += len(outgoing)
        return added

    # -- consuming -------------------------------------------------------------------------

    def add_listener(self, event: Wakeable) -> None:
        self._listeners.add(event)

    def remove_listener(self, event: Wakeable) -> None:
        self._listeners.remove(event)

    def _on_delivery(self, generation: int, broker_queue: str, method, properties, body: bytes) -> None:
        # Runs in the I/O thread: only file the delivery, never block.
        queue = broker_queue[self._work_prefix:]
        delivery = Delivery.of(generation, method.delivery_tag, properties, body)
        with self._lock:
            inbox = self._inboxes[queue]
            was_empty = not inbox
            inbox.put(delivery)
            if inbox.wished():
                self._lock.notify_all()
        if was_empty:
            # Workers busy with earlier deliveries come back for the rest by
            # themselves; only an empty inbox may have put them to sleep.
            self._listeners.wake()

    def _on_lost(self, generation: int) -> None:
        # The broker requeues everything the lost channel held unacked.
        with self._lock:
            for inbox in self._inboxes.values():
                inbox.drop_generation(generation)

    def dequeue_sync(
        self,
        max_items: int = 1,
        *,
        queue: str | None = None,
        lease_seconds: float | None = None,
    ) -> list[TaskMessage]:
        queue = self.queue_for(queue)
        lease = lease_seconds or self.default_lease_seconds
        self._reap()
        started = self._ensure_consumer(queue)
        deliveries = self._take(queue, max_items, fresh=started)
        if not deliveries:
            return []
        try:
            return self._claim(queue, deliveries, lease)
        except Exception:
            # Whatever was not settled goes back to the inbox for the next
            # claim: a delivery dropped here would stay unacknowledged (and
            # its task unrun) as long as this process lives.
            with self._lock:
                for delivery in deliveries:
                    if not delivery.settled:
                        self._inboxes[queue].put(delivery)
            raise

    def _take(self, queue: str, max_items: int, *, fresh: bool) -> list[Delivery]:
        """Up to ``max_items`` prefetched deliveries, best first (C4).

        The broker orders by its priority then FIFO; exact order needs the
        messages side by side, so when the inbox is empty but the ledger says
        tasks are due, or deliveries are still streaming in, wait briefly.
        """
        inbox = self._inboxes[queue]
        with self._lock:
            ask_ledger = fresh or (not inbox and time.monotonic() >= inbox.quiet_until)
        if ask_ledger:
            due = self.ledger.due_count(queue, time.time())
            if fresh:
                # Messages another program wrote have no ledger row, and the
                # broker sends lower priorities last: on a queue's first claim,
                # wait for what the work queue held too, so that its first
                # batch is the best (C4) and nothing it held is left behind.
                due = max(due, self._waiting(queue))
            wait, cap = (FIRST_CLAIM_WAIT, FIRST_CLAIM_CAP) if fresh else (DUE_WAIT, DUE_CAP)
            started = time.monotonic()
            # Workers come back to an empty inbox after every task: the
            # ledger is asked again QUIET_SECONDS after this wait, or as soon
            # as this process publishes to the queue. Deliveries in between
            # wake the workers by themselves (wakes_workers).
            inbox.quiet_until = started + (wait + QUIET_SECONDS if due else IDLE_QUIET_SECONDS)
            with self._lock:
                # The broker sends at most `prefetch` unacknowledged deliveries,
                # and the leases this process holds are some of them.
                target = min(due, self.prefetch - self._leases.held(queue))
                # Wait `wait`, and on while deliveries keep coming (a loaded
                # broker or host can take longer than `wait` to fill the
                # window), but never past `cap`.
                while len(inbox) < target:
                    limit = min(started + cap, max(started + wait, inbox.last_arrival + ARRIVAL_GAP))
                    remaining = limit - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wait(inbox, target, remaining)
        with self._lock:
            # A batch still arriving: a few milliseconds buy a full batch.
            limit = time.monotonic() + 0.01
            while inbox.streaming(0.002) and len(inbox) < max_items and time.monotonic() < limit:
                self._wait(inbox, max_items, 0.002)
            return inbox.take(max_items)

    def _wait(self, inbox: Inbox, wanted: int, timeout: float) -> None:
        """Wait (holding ``_lock``) until ``inbox`` holds ``wanted``
        deliveries, or ``timeout``; the caller looks at the inbox again."""
        inbox.wishes.append(wanted)
        try:
            self._lock.wait(timeout)
        finally:
            inbox.wishes.remove(wanted)

    def _claim(self, queue: str, deliveries: list[Delivery], lease: float) -> list[TaskMessage]:
        now = time.time()
        claim = uuid.uuid4().hex
        expires = now + lease
        fresh: list[tuple[Delivery, TaskMessage, Entry]] = []
        # Two messages naming one task id in a batch (a stale copy, or one
        # another program wrote with a real id): the claim answers by id, so
        # only the first is claimed; the others are looked at one by one after.
        later: list[tuple[Delivery, TaskMessage, Entry]] = []
        ids: set[str] = set()
        for delivery in deliveries:
            task = self._readable(queue, delivery)
            if task is None:
                continue
            entry = Entry(task.id, delivery.fields.token)
            if task.scheduled_time > now:
                if self._unknown(queue, delivery, entry):
                    self._fail_foreign(queue, delivery, task)
                else:
                    self._repark(queue, delivery, task.scheduled_time)
                continue
            if entry.task_id in ids:
                later.append((delivery, task, entry))
            else:
                ids.add(entry.task_id)
                fresh.append((delivery, task, entry))
        claimed = self.ledger.claim(queue, [entry for _, _, entry in fresh], claim, expires)
        out: list[TaskMessage] = []
        stale: list[str] = []
        for delivery, task, entry in fresh:
            if entry.task_id in claimed:
                out.append(self._lease(queue, delivery, task, entry, claim, expires, task.attempts + 1))
            else:
                task = self._unclaimed(queue, delivery, task, entry, claim, expires, stale)
                if task is not None:
                    out.append(task)
        for delivery, task, entry in later:
            task = self._unclaimed(queue, delivery, task, entry, claim, expires, stale)
            if task is not None:
                out.append(task)
        if stale:
            shown = ", ".join(repr(task_id[:80]) for task_id in stale[:5])
            logger.info(
                "dropped %d stale cop%s on queue %r of %s (the task finished, failed or was cleared, "
                "or another copy is current): %s%s",
                len(stale), "y" if len(stale) == 1 else "ies", queue, self.describe(), shown,
                ", …" if len(stale) > 5 else "",
            )
        return out

    def _readable(self, queue: str, delivery: Delivery) -> TaskMessage | None:
        """The delivery's task, or None once an unreadable or foreign message
        is in the failed store.

        Whatever is wrong with one message (body, headers, or anything that
        raises while reading them) sends that message alone to the failed
        store: it is never put back in the inbox, where the next claim would
        fail on it again and the queue behind it would wait for good.
        """
        try:
            task = TaskMessage.from_json(delivery.body)
            problem = self._header_problem(queue, delivery, task)
        except CorruptPayload as exc:
            task, problem = None, str(exc)
        except Exception as exc:  # noqa: BLE001 - the message may hold anything
            task, problem = None, f"unreadable message: {type(exc).__name__}"
        if problem is None:
            return task
        header_id = delivery.fields.task_id
        shown_id = header_id if isinstance(header_id, str) else (task.id if task is not None else None)
        self.fail_unreadable((queue, delivery), problem, queue=queue, task_id=shown_id)
        return None

    def _header_problem(self, queue: str, delivery: Delivery, task: TaskMessage) -> str | None:
        """Why a message with a valid body is not a copy this backend could
        have published (None if it could be one)."""
        token = delivery.fields.token
        if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
            return f"no valid {TOKEN} header (not published by symphra_django)"
        if delivery.fields.task_id != task.id:
            return f"its {TASK_ID} header does not name the task id of its body"
        if task.queue != queue:
            return f"its body names queue {task.queue[:80]!r}, not the queue it was delivered on"
        if not _storable(task.id) and not self.publisher.published_here(delivery.fields):
            # No ledger could hold this id: asking would fail the whole batch.
            return "its task id cannot be stored (NUL character or invalid Unicode)"
        return None

    def _unknown(self, queue: str, delivery: Delivery, entry: Entry) -> bool:
        """Whether a message has no ledger row and no signature of ours: it
        was written by another program, whatever its headers say."""
        return (
            not self.publisher.published_here(delivery.fields)
            and self.ledger.state_and_lease(queue, entry) is None
        )

    def _fail_foreign(self, queue: str, delivery: Delivery, task: TaskMessage) -> None:
        self.fail_unreadable(
            (queue, delivery),
            f"no ledger row for task {task.id[:80]!r} and no valid {SIGNATURE} header: "
            "not a copy this project's symphra_django published",
            queue=queue, task_id=task.id,
        )

    def _unclaimed(
        self, queue: str, delivery: Delivery, task: TaskMessage, entry: Entry, claim: str, expires: float,
        stale: list[str],
    ) -> TaskMessage | None:
        """A copy whose row was not ``queued``: stale, foreign, parked, or
        orphaned by a dead consumer (its lease expired, so it is ours now)."""
        row = self.ledger.state_and_lease(queue, entry)
        now = time.time()
        if row is None or row[0] == LEDGER_FAILED:
            if self.publisher.published_here(delivery.fields):
                stale.append(task.id)  # a copy of a finished, cleared or failed task
                self._settle(delivery)
            else:
                self._fail_foreign(queue, delivery, task)
            return None
        state, lease_expires = row
        if state == LEDGER_IN_FLIGHT and lease_expires is not None and lease_expires > now:
            # Someone holds it; if they died the broker gave us their copy, so
            # keep it (delayed) until their lease is over, then look again.
            self._repark(queue, delivery, lease_expires)
            return None
        prior = self.ledger.reclaim(queue, entry, claim, expires)
        if prior is None:
            stale.append(task.id)  # another consumer took it over first
            self._settle(delivery)
            return None
        if prior != LEDGER_IN_FLIGHT:
            return self._lease(queue, delivery, task, entry, claim, expires, task.attempts + 1)
        # The dead consumer's delivery was an attempt (C7).
        task.attempts += 1
        if self.attempts_exhausted(task):
            self._to_failed(queue, delivery, task, entry.token, claim, lease_expired_error(task), None)
            return None
        # Not leased from this copy: its body still counts the attempts it
        # was published with, and if this consumer died too, the next one
        # would get this very copy back and count from there again (a task
        # that keeps killing its consumers would never reach its limit). A
        # new copy carries the count; it is claimed like any queued task.
        self.ledger.release(queue, task.id, claim, now)
        self._inboxes[queue].quiet_until = 0.0
        self.publisher.publish([self.publisher.message(task, entry.token)])
        self._settle(delivery)
        return None

    def _lease(
        self, queue: str, delivery: Delivery, task: TaskMessage, entry: Entry, claim: str, expires: float,
        attempts: int,
    ) -> TaskMessage:
        task.attempts = attempts
        task.lease_token = f"{self._lease_prefix}{next(self._lease_numbers)}"
        task.lease_expires = expires
        held = Lease(
            queue=queue, task_id=task.id, body=delivery.body, attempts=attempts, token=task.lease_token,
            claim=claim, ledger_token=entry.token, generation=delivery.generation, tag=delivery.tag,
            expires=expires,
        )
        with self._lock:
            self._leases.add(held)
        delivery.settled = True
        return task

    def _settle(self, delivery: Held) -> None:
        """Acknowledge a delivery this process is done with."""
        self.link.ack(delivery.generation, [delivery.tag])
        delivery.settled = True

    def _repark(self, queue: str, delivery: Delivery, due: float) -> None:
        """Send a copy back through the delay ladder until ``due`` (never early, C3)."""
        self.publisher.publish([self.publisher.copy(queue, delivery.body, delivery.properties, due)])
        self._settle(delivery)

    def store_unreadable(self, entry: tuple[str, Delivery], error: str) -> None:
        queue, delivery = entry
        # A message keeps its id in the failed store only if it is a copy of
        # ours (signed); otherwise its x-symphra-id may name a real task, whose
        # row it must not take over.
        ours = self.publisher.published_here(delivery.fields)
        header_id, header_token = delivery.fields.task_id, delivery.fields.token
        stand_in = corrupt_message(delivery.body, "", queue=queue, task_id=header_id if ours else None)
        stand_in.error = error
        if not ours and isinstance(header_id, str):
            stand_in.meta["claimed_id"] = header_id[:200]
        stand_in.meta["failed_at"] = time.time()
        token = uuid.uuid4().hex
        if not self.ledger.record_failed(
            queue, Entry(stand_in.id, token, stand_in.scheduled_time), replacing=header_token if ours else None
        ):
            stand_in.id = new_task_id()
            self.ledger.record_failed(queue, Entry(stand_in.id, token, stand_in.scheduled_time))
        self.publisher.publish([self.publisher.message(stand_in, token, failed=True)])
        self._settle(delivery)

    def _to_failed(
        self, queue: str, delivery: Held, task: TaskMessage, token: str, claim: str,
        error: str | None, traceback: str | None,
    ) -> None:
        task.error, task.traceback = error, traceback
        task.lease_token = task.lease_expires = None
        task.meta["failed_at"] = time.time()
        self.publisher.publish([self.publisher.message(task, token, failed=True)])
        self.ledger.fail(queue, task.id, claim)
        self._settle(delivery)

    # -- answering a lease ------------------------------------------------------------------

    def _release_lease(self, task: TaskMessage) -> Lease | None:
        with self._lock:
            return self._leases.pop_if_held(task, time.time())

    def acknowledge_sync(self, task: TaskMessage) -> bool:
        return self.acknowledge_many_sync([task]) == 1

    def acknowledge_many_sync(self, tasks: Iterable[TaskMessage]) -> int:
        now = time.time()
        with self._lock:
            held = [lease for lease in (self._leases.pop_if_held(t, now) for t in tasks) if lease]
        by_queue: dict[str, list[Lease]] = defaultdict(list)
        for lease in held:
            by_queue[lease.queue].append(lease)
        for queue, leases in by_queue.items():
            self.ledger.finish(queue, [lease.task_id for lease in leases], {lease.claim for lease in leases})
        tags: dict[int, list[int]] = defaultdict(list)
        for lease in held:
            tags[lease.generation].append(lease.tag)
        for generation, generation_tags in tags.items():
            self.link.ack(generation, generation_tags)
        return len(held)

    def reject_sync(
        self,
        task: TaskMessage,
        requeue: bool = False,
        *,
        delay: float = 0.0,
        error: str | None = None,
        traceback: str | None = None,
    ) -> bool:
        lease = self._release_lease(task)
        if lease is None:
            return False
        stored = lease.message()
        if requeue:
            stored.error, stored.traceback = error, traceback
            stored.scheduled_time = time.time() + max(0.0, delay)
            self._requeue(lease, stored)
        else:
            self._to_failed(lease.queue, lease, stored, lease.ledger_token, lease.claim, error, traceback)
        return True

    def _requeue(self, lease: Lease, stored: TaskMessage) -> None:
        # The row goes back to "queued" before the copy is published, so the
        # copy can be claimed the moment it arrives.
        if self.ledger.release(lease.queue, stored.id, lease.claim, stored.scheduled_time):
            self._inboxes[lease.queue].quiet_until = 0.0
            self.publisher.publish([self.publisher.message(stored, lease.ledger_token)])
        self.link.ack(lease.generation, [lease.tag])

    def extend_lease_sync(self, task: TaskMessage, seconds: float | None = None) -> bool:
        expires = time.time() + (seconds or self.default_lease_seconds)
        with self._lock:
            lease = self._leases.extend(task, expires)
        if lease is None:
            return False
        task.lease_expires = expires
        self.ledger.extend(lease.queue, task.id, lease.claim, expires)
        return True

    # -- lease expiry (C6, C7) ------------------------------------------------------------------

    def _reap_forever(self) -> None:
        from django.db import connections

        try:
            while not self._stopping.wait(0.1):
                try:
                    self._reap()
                except Exception:
                    logger.warning("could not return expired leases of %s", self.describe(), exc_info=True)
        finally:
            connections.close_all()

    def _reap(self) -> None:
        with self._lock:
            expired = self._leases.pop_expired(time.time())
        for index, lease in enumerate(expired):
            stored = lease.message()
            try:
                if self.attempts_exhausted(stored):
                    self._to_failed(lease.queue, lease, stored, lease.ledger_token, lease.claim,
                                    lease_expired_error(stored), None)
                else:
                    self._requeue(lease, stored)
            except Exception:
                # Try these again on the next round rather than forget them.
                with self._lock:
                    for unsettled in expired[index:]:
                        self._leases.add(unsettled)
                raise

    # -- inspecting --------------------------------------------------------------------------------

    def get_stats_sync(self, queue: str | None = None) -> QueueStats:
        """Counts from the ledger; ``ready`` is at least the number of messages
        waiting in the work queue and in this process's inbox.

        The ledger knows only the tasks this backend enqueued. A message
        another program wrote into the work queue has no row, yet it is work
        to do (it goes to the failed store when a consumer reads it), and
        ``runscheduler --burst`` must not stop while it waits.
        """
        queue = self.queue_for(queue)
        counts = self.ledger.counts(queue, time.time())
        counts["ready"] = max(counts["ready"], self._waiting(queue))
        return QueueStats(**counts)

    def _waiting(self, queue: str) -> int:
        """Messages not yet claimed: in the work queue, and prefetched here."""
        self._ensure_queue(queue)
        _method, declaration = self.topology.queue_declarations(queue)[0]
        waiting = self.link.message_count(declaration)
        with self._lock:
            return waiting + len(self._inboxes[queue])

    def get_queue_size_sync(self, queue: str | None = None) -> int:
        return self.get_stats_sync(queue).size

    def get_status_sync(self, task_id: str, queue: str | None = None) -> str | None:
        now = time.time()
        row = self.ledger.state_of(self.queue_for(queue), task_id, now)
        if row is None:
            return None
        state, scheduled_time = row
        if state == QUEUED:
            return DELAYED if scheduled_time > now else READY
        return IN_FLIGHT if state == LEDGER_IN_FLIGHT else FAILED

    def peek_sync(self, queue: str | None = None, limit: int = 20) -> list[TaskMessage]:
        raise NotSupported(
            "RabbitMQ cannot show queued messages without taking them off the queue; "
            "get_stats() gives the counts"
        )

    def queues_sync(self) -> list[str]:
        return sorted(set(self.ledger.queue_names()) | self.topology.declared_queues)

    def clear_sync(self, queue: str | None = None) -> int:
        queue = self.queue_for(queue)
        self._ensure_queue(queue)
        count = self.ledger.clear(queue)
        with self._lock:
            dropped: list[Delivery | Lease] = list(self._inboxes[queue].take(len(self._inboxes[queue])))
            dropped += self._leases.pop_queue(queue)
        for item in dropped:
            self.link.ack(item.generation, [item.tag])
        # Copies still in the delay ladder find no row when they arrive and
        # are dropped then.
        self.link.purge(self.topology.work_queue(queue))
        return count

    def health_check_sync(self) -> bool:
        return self._link is not None and self._link.ready

    # -- the failed store (rabbitmq_failed) -------------------------------------------------

    def list_failed_sync(self, queue: str | None = None, limit: int = 100, offset: int = 0) -> list[TaskMessage]:
        return self.failed.find(self.queue_for(queue), _every, limit, offset).tasks

    def find_failed_sync(
        self, queue: str | None = None, query: FailedQuery | None = None, limit: int = 100, offset: int = 0
    ) -> FailedPage:
        return self.failed.find(self.queue_for(queue), (query or FailedQuery()).matches, limit, offset)

    def retry_failed_sync(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        wanted = set(task_ids)
        return self._retry_failed(queue, lambda task: task.id in wanted)

    def retry_failed_where_sync(self, queue: str | None = None, query: FailedQuery | None = None) -> int:
        return self._retry_failed(queue, (query or FailedQuery()).matches)

    def _retry_failed(self, queue: str | None, wanted: Wanted) -> int:
        queue = self.queue_for(queue)
        moved = self.failed.retry(queue, wanted)
        self._inboxes[queue].quiet_until = 0.0
        return moved

    def delete_failed_sync(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        wanted = set(task_ids)
        return self.failed.delete(self.queue_for(queue), lambda task: task.id in wanted)

    def delete_failed_where_sync(self, queue: str | None = None, query: FailedQuery | None = None) -> int:
        return self.failed.delete(self.queue_for(queue), (query or FailedQuery()).matches)

    def get_task_sync(self, task_id: str, queue: str | None = None) -> TaskMessage | None:
        queue = self.queue_for(queue)
        state = self.get_status_sync(task_id, queue)
        if state is None:
            return None
        if state != FAILED:
            raise NotSupported(
                f"RabbitMQ keeps a {state.replace('_', ' ')} task's message in the broker, which cannot "
                "show it without taking it off the queue"
            )
        found = self.failed.find(queue, lambda task: task.id == task_id, 1, 0).tasks
        return found[0] if found else None


def _every(task: TaskMessage) -> bool:
    return True


def _storable(text: str) -> bool:
    """Whether every database can hold ``text`` (no NUL, valid Unicode)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
