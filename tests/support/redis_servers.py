"""Extra Redis servers started by tests on loopback ports, always stopped after.

``redis-server`` is the Debian 7.0 build (TLS-capable); a Sentinel is the same
binary with ``--sentinel``. Each server gets its own temp dir and config file.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import redis

from tests.support.services import in_ci
from tests.support.waiting import wait_until

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


def require_binaries() -> None:
    """Skip (locally) or fail (CI) without the Redis binaries, like tests/support/services.py."""
    if not (REDIS_SERVER and REDIS_CLI):
        message = "redis-server / redis-cli are not installed"
        if in_ci():
            pytest.fail(f"{message}; CI must test Sentinel, Cluster and TLS for real")
        pytest.skip(message)


def free_port(low: int, high: int) -> int:
    """A port in [low, high) that nothing listens on (random start: parallel runs)."""
    ports = list(range(low, high))
    random.shuffle(ports)
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            # The cluster bus listens on port + 10000: keep it free too.
            if port + 10000 < 65536:
                with socket.socket() as bus:
                    try:
                        bus.bind(("127.0.0.1", port + 10000))
                    except OSError:
                        continue
            return port
    raise RuntimeError(f"no free port in [{low}, {high})")


class RedisProcess:
    """One redis-server (or sentinel) process with its config in ``workdir``."""

    def __init__(
        self, workdir: Path, port: int, lines: list[str] | None = None, *, sentinel: bool = False,
        ping_kwargs: dict | None = None,
    ) -> None:
        self.port = port
        self.workdir = workdir / f"redis-{port}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = self.workdir / "redis.conf"
        base = [f"port {port}", "bind 127.0.0.1", f'dir "{self.workdir}"', "save \"\"",
                f'logfile "{self.workdir / "log.txt"}"']
        self.config.write_text("\n".join(base + (lines or [])) + "\n")
        self.sentinel = sentinel
        self.ping_kwargs = ping_kwargs or {}
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> RedisProcess:
        args = [REDIS_SERVER, str(self.config)] + (["--sentinel"] if self.sentinel else [])
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        process = self.process

        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited: {self._log_tail()}")
            return bool(self.client().ping())

        wait_until(answers, timeout=timeout, ignoring=(redis.ConnectionError, redis.TimeoutError, OSError),
                   message=lambda: f"redis-server on port {self.port} to start: {self._log_tail()}")
        return self

    def _log_tail(self) -> str:
        log = self.workdir / "log.txt"
        return log.read_text()[-2000:] if log.exists() else "no log"

    def client(self, **kwargs) -> redis.Redis:
        options = {"port": self.port, "socket_timeout": 2, **self.ping_kwargs, **kwargs}
        return redis.Redis(host="127.0.0.1", **options)

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def redis_servers(tmp_path):
    """A factory of extra servers; every one it started is stopped at teardown."""
    require_binaries()
    started: list[RedisProcess] = []

    def start(lines: list[str] | None = None, *, sentinel: bool = False, port: int | None = None,
              ping_kwargs: dict | None = None) -> RedisProcess:
        if port is None:
            port = free_port(26400, 26999) if sentinel else free_port(7000, 7999)
        server = RedisProcess(tmp_path, port, lines, sentinel=sentinel, ping_kwargs=ping_kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in reversed(started):
        server.stop(kill=True)
