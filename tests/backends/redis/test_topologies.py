"""TLS, Sentinel and Cluster, each on servers this test starts on loopback ports."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest

from symphra_django.backends.redis.backend import RedisBackend
from symphra_django.messages import TaskMessage
from tests.support.redis_servers import REDIS_CLI, free_port, redis_servers  # noqa: F401 - fixture
from tests.support.waiting import wait_until


def drain_all(backend, **kwargs):
    done = []
    while batch := backend.dequeue_sync(16, **kwargs):
        backend.acknowledge_many_sync(batch)
        done += [t.id for t in batch]
    return done


def self_signed_certificate(folder):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    return cert, key


def test_tls_url_talks_to_a_tls_only_server(redis_servers, tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    port = free_port(7000, 7999)
    tls = [f"port 0", f"tls-port {port}", f"tls-cert-file {cert}", f"tls-key-file {key}",
           f"tls-ca-cert-file {cert}", "tls-auth-clients no"]
    redis_servers(tls, port=port, ping_kwargs={"ssl": True, "ssl_ca_certs": str(cert)})
    backend = RedisBackend(url=f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}", key_prefix="tls")
    backend.connect_sync()
    backend.enqueue_sync(TaskMessage(name="t", id="over-tls"))
    assert drain_all(backend) == ["over-tls"]
    backend.disconnect_sync()


#: While servers settle (a replica not yet known, a cluster slot not yet
#: served) any error only means "not yet": ask again.
SETTLING = (Exception,)


@pytest.mark.slow
def test_sentinel_failover_during_work_loses_nothing(redis_servers):
    master = redis_servers()
    replica = redis_servers([f"replicaof 127.0.0.1 {master.port}"])
    sentinel_lines = [
        f"sentinel monitor mymaster 127.0.0.1 {master.port} 1",
        "sentinel down-after-milliseconds mymaster 1000",
        "sentinel failover-timeout mymaster 5000",
    ]
    sentinels = [redis_servers(sentinel_lines, sentinel=True) for _ in range(2)]
    wait_until(lambda: master.client().info("replication")["connected_slaves"] == 1,
               timeout=30, interval=0.1, message="the replica to connect", ignoring=SETTLING)
    hosts = ",".join(f"127.0.0.1:{s.port}" for s in sentinels)
    backend = RedisBackend(url=f"redis+sentinel://{hosts}/mymaster/0", key_prefix="sentinel")
    backend.connect_sync()
    ids = {f"t{i}" for i in range(300)}
    backend.enqueue_many_sync([TaskMessage(name="t", id=i, max_attempts=10) for i in ids])
    master.client().wait(1, 5000)
    done: list[str] = []
    worker_error: list[BaseException] = []
    enqueued_all = threading.Event()

    def work():
        try:
            while not (enqueued_all.is_set() and set(done) >= ids):
                batch = backend.dequeue_sync(8, lease_seconds=2)
                if not batch:
                    time.sleep(0.05)
                    continue
                time.sleep(0.05)
                backend.acknowledge_many_sync(batch)
                done.extend(t.id for t in batch)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            worker_error.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    try:
        wait_until(lambda: len(done) >= 50, timeout=30, interval=0.1, message="the first 50 tasks")
        sentinels[0].client().execute_command("SENTINEL", "FAILOVER", "mymaster")
        wait_until(lambda: replica.client().info("replication")["role"] == "master",
                   timeout=30, interval=0.1, message="the failover", ignoring=SETTLING)
        done_at_failover = len(done)
        after = {f"after{i}" for i in range(100)}
        backend.enqueue_many_sync([TaskMessage(name="t", id=i, max_attempts=10) for i in after])
        ids |= after
    finally:
        enqueued_all.set()
        worker.join(90)
    assert not worker_error, worker_error
    assert set(done) == ids
    assert done_at_failover < 300, "the failover must happen during work"
    pool = backend._connected().connection_pool
    wait_until(lambda: pool.get_master_address()[1] == replica.port,
               timeout=30, interval=0.1, message="the sentinels to agree", ignoring=SETTLING)
    backend.disconnect_sync()


@pytest.mark.slow
def test_a_three_node_cluster_runs_queues_on_every_node(redis_servers):
    nodes = [
        redis_servers(["cluster-enabled yes", "cluster-node-timeout 2000",
                       "cluster-config-file nodes.conf"])
        for _ in range(3)
    ]
    subprocess.run(
        [REDIS_CLI, "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in nodes], "--cluster-yes"],
        check=True, capture_output=True, timeout=60,
    )
    for node in nodes:
        wait_until(lambda n=node: n.client().cluster("info")["cluster_state"] == "ok",
                   timeout=30, interval=0.1, message="the cluster to be ok", ignoring=SETTLING)
    url = "redis://" + ",".join(f"127.0.0.1:{n.port}" for n in nodes) + "/0"
    backend = RedisBackend(url=url, key_prefix="cluster")
    backend.connect_sync()
    queues = [f"q{i}" for i in range(12)]
    for queue in queues:
        backend.enqueue_many_sync([TaskMessage(name="t", queue=queue, id=f"{queue}-{i}") for i in range(5)])
    slots_used = {backend._connected().keyslot(f"{{cluster:{q}}}:tasks") for q in queues}
    assert len({backend._connected().get_node_from_key(f"{{cluster:{q}}}:x").port for q in queues}) > 1
    assert len(slots_used) > 1
    assert backend.queues_sync() == sorted(queues)
    for queue in queues:
        assert sorted(drain_all(backend, queue=queue)) == sorted(f"{queue}-{i}" for i in range(5))
        assert backend.get_queue_size_sync(queue) == 0
    backend.disconnect_sync()
