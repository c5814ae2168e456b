"""Where the real servers of DESIGN.md section 8 are, and whether they answer.

Locally, a test that needs a server that is down is skipped with the reason.
Under CI (``CI=true``) it fails instead: CI must test every backend for real.
"""

from __future__ import annotations

import os
import socket

import pytest

SERVICES = {
    "postgresql": ("127.0.0.1", 5432),
    "mariadb": ("127.0.0.1", 3306),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(service: str) -> None:
    """Skip (locally) or fail (CI) unless ``service`` accepts connections."""
    host, port = SERVICES[service]
    if reachable(host, port):
        return
    message = f"{service} is not reachable on {host}:{port}"
    if in_ci():
        pytest.fail(f"{message}; CI must test it for real (start it, see DESIGN.md section 8)")
    pytest.skip(message)
