"""Redis faults on real servers: lost connections, restarts, persistence, ACL users."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid

import pytest
import redis

from symphra_django.backends.redis.backend import RedisBackend
from symphra_django.exceptions import BackendUnavailable
from symphra_django.messages import TaskMessage
from tests.support.redis_servers import redis_servers  # noqa: F401 - fixture
from tests.support.services import require

AOF = ["appendonly yes", "appendfsync always"]


def drain_all(backend, **kwargs):
    done = []
    while batch := backend.dequeue_sync(16, **kwargs):
        backend.acknowledge_many_sync(batch)
        done += [t.id for t in batch]
    return done


def test_acl_user_with_a_password_can_use_the_queue():
    require("redis")
    admin = redis.Redis(host="127.0.0.1", port=6379)
    user, password, prefix = f"symphra_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, "acl" + uuid.uuid4().hex[:8]
    admin.execute_command("ACL", "SETUSER", user, "reset", "on", f">{password}",
                          f"~{{{prefix}:*", f"&{{{prefix}:*", "+@all", "-@dangerous", "+scan")
    backend = RedisBackend(url=f"redis://{user}:{password}@127.0.0.1:6379/0", key_prefix=prefix)
    try:
        backend.connect_sync()
        backend.enqueue_sync(TaskMessage(name="t", id="acl-task"))
        [got] = backend.dequeue_sync(1)
        assert backend.acknowledge_sync(got) is True
        assert backend.queues_sync() == []
    finally:
        backend.disconnect_sync()
        admin.execute_command("ACL", "DELUSER", user)
        leftover = list(admin.scan_iter(match=f"{{{prefix}:*"))
        if leftover:
            admin.delete(*leftover)


def test_an_acl_user_without_channel_access_still_enqueues():
    require("redis")
    admin = redis.Redis(host="127.0.0.1", port=6379)
    user, password, prefix = f"symphra_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, "acl" + uuid.uuid4().hex[:8]
    admin.execute_command("ACL", "SETUSER", user, "reset", "on", f">{password}",
                          f"~{{{prefix}:*", "resetchannels", "+@all", "-@dangerous")
    backend = RedisBackend(url=f"redis://{user}:{password}@127.0.0.1:6379/0", key_prefix=prefix)
    event = threading.Event()
    try:
        backend.add_listener(event)
        assert backend.enqueue_sync(TaskMessage(name="t")) is True
        assert len(backend.dequeue_sync(1)) == 1
        # The subscription is refused: idle workers must keep polling.
        time.sleep(0.5)
        assert backend.wakes_workers is False
    finally:
        backend.remove_listener(event)
        backend.disconnect_sync()
        admin.execute_command("ACL", "DELUSER", user)
        leftover = list(admin.scan_iter(match=f"{{{prefix}:*"))
        if leftover:
            admin.delete(*leftover)


def test_a_wrong_acl_password_is_refused_at_once_without_leaking_it():
    require("redis")
    backend = RedisBackend(url="redis://nobody:wrong-secret@127.0.0.1:6379/0")
    with pytest.raises(BackendUnavailable, match="refused the credentials") as info:
        backend.connect_sync()
    assert "wrong-secret" not in str(info.value)


def test_a_connection_killed_mid_run_reconnects_and_loses_nothing(redis_servers, caplog):
    server = redis_servers()
    backend = RedisBackend(url=f"redis://127.0.0.1:{server.port}/0", key_prefix="kill")
    backend.connect_sync()
    ids = {f"t{i}" for i in range(100)}
    backend.enqueue_many_sync([TaskMessage(name="t", id=i) for i in ids])
    first = backend.dequeue_sync(10)
    backend.acknowledge_many_sync(first)
    server.client().client_kill_filter(_type="normal", skipme=True)
    done = [t.id for t in first] + drain_all(backend)
    assert sorted(done) == sorted(ids)
    backend.disconnect_sync()


def test_a_restarted_server_is_reconnected_to_with_one_log_line_and_masked_password(redis_servers, caplog):
    server = redis_servers(AOF + ["requirepass sesame-secret"], ping_kwargs={"password": "sesame-secret"})
    backend = RedisBackend(url=f"redis://:sesame-secret@127.0.0.1:{server.port}/0", key_prefix="restart")
    backend.connect_sync()
    backend.enqueue_many_sync([TaskMessage(name="t", id=f"t{i}") for i in range(50)])
    server.stop(kill=True)
    restarter = threading.Timer(1.0, server.start)
    restarter.start()
    with caplog.at_level(logging.INFO, logger="symphra_django.backends.redis"):
        done = drain_all(backend)
    restarter.join()
    assert sorted(done) == sorted(f"t{i}" for i in range(50))
    lost = [r for r in caplog.records if "lost the connection" in r.getMessage()]
    assert len(lost) == 1
    assert "sesame-secret" not in caplog.text and ":***@" in lost[0].getMessage()
    backend.disconnect_sync()


def test_an_outage_longer_than_the_reconnect_timeout_raises_backend_unavailable(redis_servers):
    server = redis_servers()
    backend = RedisBackend(url=f"redis://127.0.0.1:{server.port}/0", reconnect_timeout=0.5)
    backend.connect_sync()
    server.stop(kill=True)
    with pytest.raises(BackendUnavailable, match="unreachable"):
        backend.enqueue_sync(TaskMessage(name="t"))


def test_with_aof_persistence_a_restart_keeps_every_task(redis_servers):
    server = redis_servers(AOF)
    backend = RedisBackend(url=f"redis://127.0.0.1:{server.port}/0", key_prefix="aof")
    backend.connect_sync()
    backend.enqueue_many_sync([TaskMessage(name="t", id=f"r{i}") for i in range(5)])
    backend.enqueue_sync(TaskMessage(name="t", id="later"), time.time() + 3600)
    [held] = backend.dequeue_sync(1, lease_seconds=300)
    [failing] = backend.dequeue_sync(1)
    backend.reject_sync(failing, error="boom")
    before = backend.get_stats_sync()
    server.stop(kill=True)
    server.start()
    after = backend.get_stats_sync()
    assert (after.ready, after.delayed, after.in_flight, after.failed) == (3, 1, 1, 1) == (
        before.ready, before.delayed, before.in_flight, before.failed,
    )
    assert backend.acknowledge_sync(held) is True
    backend.disconnect_sync()


class OutageClock:
    """Monotonic seconds that move only when the reconnect loop sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def test_an_outage_gives_up_at_its_stated_limit_once_and_reports_the_recovery(redis_servers, caplog):
    server = redis_servers()
    backend = RedisBackend(url=f"redis://127.0.0.1:{server.port}/0", key_prefix="freeze",
                           socket_timeout=0.2, reconnect_timeout=10)
    backend.connect_sync()
    backend.enqueue_sync(TaskMessage(name="t", id="kept"))
    clock = OutageClock()
    connection = backend._connection
    connection.clock, connection.sleep = clock, clock.sleep
    probes = []
    probe = connection._probe
    connection._probe = lambda left: probes.append(clock.now) or probe(left)

    events = []
    os.kill(server.process.pid, signal.SIGSTOP)  # frozen: connections hang, nothing is refused
    try:
        with caplog.at_level(logging.INFO, logger="symphra_django.backends.redis"):
            for _ in range(2):
                try:
                    backend.get_stats_sync()
                except BackendUnavailable as exc:
                    events.append(("raised", clock.now - 1000.0, str(exc)))
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    with caplog.at_level(logging.INFO, logger="symphra_django.backends.redis"):
        assert backend.get_queue_size_sync() == 1

    first, second = events
    assert first[0] == second[0] == "raised"
    # Given up when the stated limit was reached, not before or after it...
    assert first[1] == pytest.approx(10.0)
    # ...with every probe started inside it; once over, an operation fails
    # after its one try, without a new round of reconnecting.
    assert probes and all(at - 1000.0 < 10.0 for at in probes)
    assert second[1] == first[1]
    assert "unreachable for 10 s" in first[2]
    lost, gave_up, back = (r.getMessage() for r in caplog.records)
    assert lost.startswith("lost the connection") and "for up to 10 s" in lost
    assert "unreachable for 10 s" in gave_up and "giving up: operations raise BackendUnavailable" in gave_up
    assert caplog.records[1].levelno == logging.ERROR
    assert back.startswith("reconnected") and "after 10.0 s" in back
    backend.disconnect_sync()
