"""One RabbitMQ connection owned by one I/O thread, shared by every caller.

pika connections are not thread-safe, and the backend instance is shared by
the worker threads of a process. So one daemon thread owns a
``SelectConnection`` and its single channel and runs its event loop; other
threads never touch pika objects: they hand a function to the loop with
``add_callback_threadsafe`` and wait on a :class:`concurrent.futures.Future`.
Deliveries flow the other way, through the ``on_delivery`` callback.

The thread also owns the connection's life: it connects at start, with
``retries`` more attempts after a failure (``BackendUnavailable`` after the
last; the backend makes one, and ``runscheduler`` retries), and when an established
connection drops it logs one warning (password masked), reconnects with
exponential backoff, replays the declarations and restarts the consumers.
Every (re)connection gets a new *generation*: delivery tags are only valid
on the channel that issued them, so an ack for an older generation is never
sent (the broker has already requeued that delivery) and can never close the
channel with PRECONDITION_FAILED.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

import pika
from pika.adapters.select_connection import SelectConnection
from pika.spec import Basic, BasicProperties

from symphra_django.exceptions import BackendUnavailable

logger = logging.getLogger("symphra_django.backends.rabbitmq")

#: Called in the I/O thread: (generation, broker queue, method, properties, body).
DeliveryCallback = Callable[[int, str, Basic.Deliver, BasicProperties, bytes], None]


class _ResultSink(Protocol):
    """What a declaration chain reports its end to: a caller's ``Future`` or,
    at (re)connection, the :class:`_ReadyFuture` that resumes the link."""

    def set_result(self, value: Any, /) -> None: ...


CALL_TIMEOUT = 30.0


class ConnectionLost(ConnectionError):
    """The connection dropped before the broker answered."""


class PublishFailed(RuntimeError):
    """The broker refused a message or could not route it anywhere."""


@dataclass
class Outgoing:
    exchange: str
    routing_key: str
    body: bytes
    properties: BasicProperties


class _Batch:
    """Publisher confirms of one ``publish`` call."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.errors: list[str] = []
        self.future: Future[None] = Future()

    def settle(self, error: str | None) -> None:
        if error:
            self.errors.append(error)
        self.remaining -= 1
        if self.remaining == 0 and not self.future.done():
            if self.errors:
                self.future.set_exception(PublishFailed("; ".join(self.errors[:3])))
            else:
                self.future.set_result(None)

    def fail(self, error: BaseException) -> None:
        """End the wait at once (confirms still to come are then ignored)."""
        if not self.future.done():
            self.future.set_exception(error)


class BrokerLink:
    def __init__(
        self,
        parameters: pika.URLParameters,
        *,
        label: str,
        prefetch: int,
        on_delivery: DeliveryCallback,
        on_lost: Callable[[int], None],
    ) -> None:
        self._parameters = parameters
        self.label = label
        self._prefetch = prefetch
        self._on_delivery = on_delivery
        self._on_lost = on_lost
        self._declarations: list[tuple[str, dict[str, Any]]] = []
        self._consumers: list[str] = []
        self._connection: SelectConnection | None = None
        self._channel: Any = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._first_attempt_done = threading.Event()
        self._first_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._retries = 0
        self._connected_this_round = False
        self.generation = 0
        self._publish_seq = 0
        self._pending: dict[int, tuple[_Batch, str]] = {}
        self._returned: set[str] = set()
        self._unacked: set[int] = set()
        self._calls: set[Future] = set()

    # -- lifecycle (caller threads) -------------------------------------------

    def start(self, retries: int) -> None:
        """Connect, retrying ``retries`` times with backoff; raise
        ``BackendUnavailable`` if the broker cannot be reached."""
        self._retries = retries
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name=f"symphra-amqp-{self.label}", daemon=True)
        self._thread.start()
        self._first_attempt_done.wait()
        if self._first_error is not None:
            self._thread.join(5)
            raise BackendUnavailable(
                f"cannot reach RabbitMQ at {self.label} after {retries + 1} attempt(s): "
                f"{self._first_error!r}"
            ) from None

    def stop(self) -> None:
        self._stopped.set()
        connection = self._connection
        if connection is not None:
            try:
                connection.ioloop.add_callback_threadsafe(self._close)
            except Exception:  # noqa: BLE001 - the loop may be gone already
                pass
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    # -- calls marshalled to the I/O thread -----------------------------------------

    def call(self, func: Callable[[Any, Future], None], timeout: float = CALL_TIMEOUT, *, attempts: int = 1) -> Any:
        """Run ``func(channel, future)`` in the I/O thread; it (or a broker
        callback it registers) settles the future. Waits for a connection;
        an idempotent call may be retried ``attempts`` times across
        reconnections."""
        for attempt in range(1, attempts + 1):
            try:
                return self._call_once(func, timeout)
            except ConnectionLost:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _call_once(self, func: Callable[[Any, Future], None], timeout: float) -> Any:
        if not self._ready.wait(timeout):
            raise BackendUnavailable(f"RabbitMQ at {self.label} is not reachable")
        future: Future = Future()
        generation = self.generation

        def run() -> None:
            if self.generation != generation or self._channel is None or not self._channel.is_open:
                future.set_exception(ConnectionLost("connection lost before the call ran"))
                return
            # A connection that drops before the broker answers fails it (_on_closed).
            self._calls.add(future)
            future.add_done_callback(self._calls.discard)
            try:
                func(self._channel, future)
            except Exception as exc:  # noqa: BLE001 - hand it to the caller
                if not future.done():
                    future.set_exception(exc)

        return self._run_and_wait(run, future, timeout, "did not answer")

    def _run_and_wait(self, run: Callable[[], None], future: Future, timeout: float, late: str) -> Any:
        """Hand ``run`` to the I/O thread and wait up to ``timeout`` for
        ``future``; ``late`` says in the error what did not happen in time."""
        connection = self._connection
        if connection is None:
            raise ConnectionLost("not connected")
        connection.ioloop.add_callback_threadsafe(run)
        try:
            return future.result(timeout)
        except TimeoutError:
            raise BackendUnavailable(f"RabbitMQ at {self.label} {late} within {timeout:.0f}s") from None

    def declare(self, operations: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Declare exchanges/queues/bindings now and after every reconnection."""
        def start(channel: Any, future: Future) -> None:
            self._declarations.extend(op for op in operations if op not in self._declarations)
            self._chain(channel, list(operations), future)

        self.call(start, attempts=3)

    def _chain(self, channel: Any, operations: list, future: _ResultSink) -> None:
        if not operations:
            future.set_result(None)
            return
        method, kwargs = operations.pop(0)
        getattr(channel, method)(callback=lambda _frame: self._chain(channel, operations, future), **kwargs)

    def consume(self, broker_queue: str) -> None:
        """Start (and after each reconnection restart) a consumer on a queue."""
        if broker_queue in self._consumers:
            return

        def start(channel: Any, future: Future) -> None:
            if broker_queue in self._consumers:
                future.set_result(None)
                return
            self._consumers.append(broker_queue)
            self._start_consumer(channel, broker_queue, future)

        self.call(start, attempts=3)

    def _start_consumer(self, channel: Any, broker_queue: str, future: Future | None = None) -> None:
        generation = self.generation

        def on_message(_channel: Any, method: Basic.Deliver, properties: BasicProperties, body: bytes) -> None:
            self._unacked.add(method.delivery_tag)
            self._on_delivery(generation, broker_queue, method, properties, body)

        channel.basic_consume(
            broker_queue,
            on_message,
            callback=(lambda _frame: future.set_result(None)) if future else None,
        )

    def publish(self, messages: Sequence[Outgoing], timeout: float = CALL_TIMEOUT) -> None:
        """Publish persistent, mandatory messages and wait for every confirm.

        Raises ``PublishFailed`` if the broker nacks one or cannot route it
        (``basic.return`` comes before the confirm of the same message), and
        ``ConnectionLost`` if the connection drops first.
        """
        if not messages:
            return
        if not self._ready.wait(timeout):
            raise BackendUnavailable(f"RabbitMQ at {self.label} is not reachable")
        batch = _Batch(len(messages))
        generation = self.generation

        # Not through call(): the caller waits once, for the confirms. A
        # second wait for the I/O thread to have sent them cost one more
        # thread handoff per enqueue (the confirms come after it anyway).
        def run() -> None:
            channel = self._channel
            if self.generation != generation or channel is None or not channel.is_open:
                batch.fail(ConnectionLost("connection lost before the messages were published"))
                return
            try:
                for message in messages:
                    self._publish_seq += 1
                    marker = str(self._publish_seq)
                    message.properties.message_id = marker
                    self._pending[self._publish_seq] = (batch, marker)
                    channel.basic_publish(
                        message.exchange, message.routing_key, message.body,
                        message.properties, mandatory=True,
                    )
            except Exception as exc:  # noqa: BLE001 - hand it to the caller
                batch.fail(exc)

        self._run_and_wait(run, batch.future, timeout, f"did not confirm {len(messages)} message(s)")

    def ack(self, generation: int, tags: Iterable[int]) -> None:
        """Acknowledge deliveries of ``generation`` (a no-op for older ones)."""
        tags = sorted(tags)
        if not tags or generation != self.generation or self._connection is None:
            return
        try:
            self._connection.ioloop.add_callback_threadsafe(lambda: self._ack(generation, tags))
        except Exception:
            logger.debug("ack after the connection closed; the broker redelivers", exc_info=True)

    def message_count(self, declaration: dict[str, Any]) -> int:
        """Messages waiting in a queue (not those handed to consumers), from
        declaring it again with its own arguments: unlike a passive declare,
        this never closes the channel if someone deleted the queue."""
        return self.call(
            lambda channel, future: channel.queue_declare(
                callback=lambda frame: future.set_result(frame.method.message_count), **declaration
            ),
            attempts=3,
        )

    def purge(self, broker_queue: str) -> int:
        return self.call(
            lambda channel, future: channel.queue_purge(
                broker_queue, callback=lambda frame: future.set_result(frame.method.message_count)
            )
        )

    # -- the I/O thread -------------------------------------------------------------

    def _ack(self, generation: int, tags: list[int]) -> None:
        channel = self._channel
        if generation != self.generation or channel is None or not channel.is_open:
            return
        wanted = set(tags) & self._unacked
        if not wanted:
            return
        # One "multiple" ack covers the longest run of outstanding tags that
        # are all being acknowledged; the rest go one by one.
        covered = 0
        for tag in sorted(self._unacked):
            if tag not in wanted:
                break
            covered = tag
        if covered:
            channel.basic_ack(covered, multiple=True)
        for tag in sorted(wanted):
            if tag > covered:
                channel.basic_ack(tag)
        self._unacked -= wanted

    def _run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            self._connected_this_round = False
            self._connect_and_loop()
            if self._stopped.is_set():
                break
            if not self._first_attempt_done.is_set():
                failures += 1
                if failures > self._retries:
                    self._first_attempt_done.set()
                    return
                delay = min(0.2 * 2 ** (failures - 1), 5.0)
            else:
                failures = 1 if self._connected_this_round else failures + 1
                delay = min(0.5 * 2 ** (failures - 1), 10.0)
            self._stopped.wait(delay)
        self._first_attempt_done.set()

    def _connect_and_loop(self) -> None:
        try:
            self._connection = SelectConnection(
                self._parameters,
                on_open_callback=self._on_open,
                on_open_error_callback=self._on_open_error,
                on_close_callback=self._on_closed,
            )
        except Exception as exc:  # noqa: BLE001 - bad parameters count as a failed attempt
            self._first_error = exc
            return
        self._connection.ioloop.start()

    def _on_open_error(self, connection: SelectConnection, error: BaseException) -> None:
        if not self._first_attempt_done.is_set():
            self._first_error = error
        logger.debug("connecting to RabbitMQ at %s failed: %r", self.label, error)
        connection.ioloop.stop()

    def _on_open(self, connection: SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_channel_open(self, channel: Any) -> None:
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        self._publish_seq = 0
        self._unacked = set()
        channel.confirm_delivery(self._on_confirm, callback=lambda _f: channel.basic_qos(
            prefetch_count=self._prefetch, callback=lambda _f2: self._on_channel_ready(channel)
        ))

    def _on_channel_ready(self, channel: Any) -> None:
        self._chain(channel, list(self._declarations), _ReadyFuture(lambda: self._resume(channel)))

    def _resume(self, channel: Any) -> None:
        self._channel = channel
        self._connected_this_round = True
        self.generation += 1
        for broker_queue in self._consumers:
            self._start_consumer(channel, broker_queue)
        if self.generation > 1:
            logger.warning("reconnected to RabbitMQ at %s", self.label)
        self._first_error = None
        self._ready.set()
        self._first_attempt_done.set()

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        error = "the broker refused the message (basic.nack)" if isinstance(method, Basic.Nack) else None
        tags = [method.delivery_tag]
        if method.multiple:
            tags = []
            for tag in self._pending:
                if tag > method.delivery_tag:
                    break
                tags.append(tag)
        for tag in tags:
            entry = self._pending.pop(tag, None)
            if entry is None:
                continue
            batch, marker = entry
            reason = error
            if marker in self._returned:
                self._returned.discard(marker)
                reason = reason or "the message was routed to no queue (is the queue declared?)"
            batch.settle(reason)

    def _on_return(self, _channel: Any, method: Basic.Return, properties: BasicProperties, _body: bytes) -> None:
        logger.debug("returned by RabbitMQ: %s %s", method.reply_text, method.routing_key)
        if properties.message_id:
            self._returned.add(properties.message_id)

    def _on_channel_closed(self, _channel: Any, reason: BaseException) -> None:
        # Any channel error (a bug, or the broker's consumer timeout) ends the
        # connection: one recovery path, with a new generation.
        self._channel = None
        if not self._first_attempt_done.is_set():
            self._first_error = reason
        connection = self._connection
        if connection is not None and connection.is_open:
            logger.warning("RabbitMQ channel at %s closed: %r", self.label, reason)
            connection.close()

    def _on_closed(self, connection: SelectConnection, reason: BaseException) -> None:
        was_ready = self._ready.is_set()
        self._ready.clear()
        self._channel = None
        lost = ConnectionLost(f"connection to RabbitMQ at {self.label} lost: {reason!r}")
        pending, self._pending = self._pending, {}
        for batch, _marker in pending.values():
            if not batch.future.done():
                batch.future.set_exception(lost)
        self._returned.clear()
        self._unacked = set()
        for call in list(self._calls):
            if not call.done():
                call.set_exception(lost)
        if was_ready:
            self._on_lost(self.generation)
            if not self._stopped.is_set():
                logger.warning(
                    "lost the connection to RabbitMQ at %s (%r); reconnecting with backoff",
                    self.label, reason,
                )
        connection.ioloop.stop()

    def _close(self) -> None:
        connection = self._connection
        if connection is not None and not (connection.is_closing or connection.is_closed):
            connection.close()
        elif connection is not None:
            connection.ioloop.stop()


class _ReadyFuture:
    """The future-like end of a declaration chain run at (re)connection."""

    def __init__(self, done: Callable[[], None]) -> None:
        self._done = done

    def set_result(self, _value: Any) -> None:
        self._done()
