from __future__ import annotations

import pytest

from symphra_django.backends import MemoryBackend, backends
from tests.sampleapp import tasks as sample
from tests.support.clock import FakeClock


@pytest.fixture
def events():
    sample.EVENTS.clear()
    yield sample.EVENTS
    sample.EVENTS.clear()


@pytest.fixture
def clock():
    """The clock of the ``memory`` backend: the real time until a test advances it."""
    return FakeClock()


@pytest.fixture
def memory(clock):
    """A fresh memory backend as the ``default`` alias, on ``clock``."""
    backend = MemoryBackend(alias="default", clock=clock)
    backends.set("default", backend)
    yield backend
    backends.close_all()
