from __future__ import annotations

import pytest

from symphra_django.backends import MemoryBackend, backends
from tests.sampleapp import tasks as sample


@pytest.fixture
def events():
    sample.EVENTS.clear()
    yield sample.EVENTS
    sample.EVENTS.clear()


@pytest.fixture
def memory():
    """A fresh memory backend as the ``default`` alias."""
    backend = MemoryBackend(alias="default")
    backends.set("default", backend)
    yield backend
    backends.close_all()
