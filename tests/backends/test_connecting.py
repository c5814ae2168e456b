"""Getting a backend never connects it; its first operation does, once, in a
bounded time; ``runscheduler`` alone retries with backoff at start."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from django.test import override_settings

from symphra_django.backends import MemoryBackend, backends
from symphra_django.exceptions import BackendUnavailable
from symphra_django.messages import TaskMessage
from tests.support.ports import ClosingPort


def finishes(func: Callable[[], object], guard: float = 10.0) -> bool:
    """Whether ``func()`` returns in another thread (``guard`` only keeps a
    broken build from hanging the suite; it is no speed requirement)."""
    thread = threading.Thread(target=func, daemon=True)
    thread.start()
    thread.join(guard)
    return not thread.is_alive()


@pytest.fixture
def closing_port() -> Iterator[ClosingPort]:
    port = ClosingPort()
    yield port
    port.close()


def unreachable(kind: str, port: int) -> dict:
    if kind == "redis":
        return {"BACKEND": "redis", "OPTIONS": {"url": f"redis://:topsecret@127.0.0.1:{port}/0"}}
    return {"BACKEND": "rabbitmq", "OPTIONS": {"url": f"amqp://guest:topsecret@127.0.0.1:{port}/%2F"}}


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_getting_a_backend_does_not_connect_it(kind, closing_port):
    with override_settings(SYMPHRA={"BACKENDS": {"default": unreachable(kind, closing_port.port)}}):
        backend = backends["default"]
        assert backends["default"] is backend
        assert closing_port.connections == 0
        assert not backend.connected
        backends.close_all()


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_the_first_operation_on_an_unreachable_backend_fails_with_backend_unavailable(kind, closing_port):
    with override_settings(SYMPHRA={"BACKENDS": {"default": unreachable(kind, closing_port.port)}}):
        backend = backends["default"]
        with pytest.raises(BackendUnavailable) as info:
            backend.enqueue_sync(TaskMessage(name="t"))
        assert closing_port.connections >= 1, "it tried"
        assert "topsecret" not in str(info.value)
        assert backend.health_check_sync() is False
        backends.close_all()


class Stalling(MemoryBackend):
    """Connecting waits until the test lets it go."""

    entered = threading.Event()
    release = threading.Event()
    attempts = 0

    def connect_sync(self) -> None:
        type(self).attempts += 1
        type(self).entered.set()
        assert type(self).release.wait(10)


@pytest.fixture
def stalling() -> Iterator[type[Stalling]]:
    Stalling.entered.clear()
    Stalling.release.clear()
    Stalling.attempts = 0
    yield Stalling
    Stalling.release.set()


@override_settings(SYMPHRA={"BACKENDS": {
    "stuck": {"BACKEND": "tests.backends.test_connecting.Stalling"},
    "default": {"BACKEND": "memory"},
}})
def test_an_alias_that_is_connecting_holds_up_no_other_alias(stalling):
    stuck = backends["stuck"]
    first_use = threading.Thread(target=lambda: stuck.enqueue_sync(TaskMessage(name="t", id="a")), daemon=True)
    first_use.start()
    assert stalling.entered.wait(10)

    def elsewhere() -> None:
        assert backends["stuck"] is stuck
        backends["default"].enqueue_sync(TaskMessage(name="t"))
        assert backends["default"].get_queue_size_sync() == 1

    try:
        assert finishes(elsewhere)
    finally:
        stalling.release.set()
        first_use.join(10)
        backends.close_all()
    assert stuck.get_status_sync("a") == "ready"


def test_many_threads_share_one_connection_attempt(stalling):
    backend = Stalling()
    done = []
    threads = [
        threading.Thread(target=lambda i=i: done.append(backend.enqueue_sync(TaskMessage(name="t", id=str(i)))))
        for i in range(5)
    ]
    for thread in threads:
        thread.start()
    assert stalling.entered.wait(10)
    stalling.release.set()
    for thread in threads:
        thread.join(10)
    assert done == [True] * 5
    assert Stalling.attempts == 1
    assert backend.connected


class FailsToConnect(MemoryBackend):
    attempts = 0

    def connect_sync(self) -> None:
        self.attempts += 1
        raise ConnectionRefusedError("refused by redis://:topsecret@broker:6379/0")


def test_a_failed_connection_is_backend_unavailable_and_the_next_use_tries_again():
    backend = FailsToConnect()
    with pytest.raises(BackendUnavailable, match="ConnectionRefusedError") as info:
        backend.enqueue_sync(TaskMessage(name="t"))
    assert "topsecret" not in str(info.value)
    with pytest.raises(BackendUnavailable):
        backend.dequeue_sync()
    assert backend.attempts == 2


class CountingMemory(MemoryBackend):
    """A backend with no connect() of its own, counting connection attempts."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.attempts = 0

    def ensure_connected(self) -> None:
        self.attempts += 1
        super().ensure_connected()


def test_a_backend_without_a_connect_of_its_own_connects_once_and_stays_connected():
    backend = CountingMemory(alias="counting")
    assert not backend.connected
    for _ in range(5):
        backend.enqueue_sync(TaskMessage(name="t"))
    backend.dequeue_sync(5)
    assert backend.connected
    assert backend.attempts == 1
    backend.disconnect_sync()
    assert not backend.connected
    backend.get_queue_size_sync()
    assert backend.connected and backend.attempts == 2
