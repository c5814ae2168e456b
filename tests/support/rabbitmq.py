"""Fixtures and helpers of the RabbitMQ backend's own tests."""

from __future__ import annotations

import subprocess

import pytest

from tests.support import services
from tests.conformance.factory_rabbitmq import RabbitMQFactory


@pytest.fixture
def rabbit(transactional_db):
    """A factory of RabbitMQ backends on one fresh namespace, removed afterwards."""
    services.require("rabbitmq")
    factory = RabbitMQFactory()
    yield factory
    factory.teardown()


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture
def restartable_broker():
    """``stop()`` stops the broker application; it is always started again."""

    class Broker:
        def stop(self) -> None:
            rabbitmqctl("stop_app")

        def start(self) -> None:
            rabbitmqctl("start_app")
            rabbitmqctl("await_startup")

    broker = Broker()
    yield broker
    broker.start()

