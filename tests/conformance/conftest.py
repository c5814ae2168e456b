from __future__ import annotations

import pytest

from tests.support import services

from .factories import FACTORIES


@pytest.fixture(params=sorted(FACTORIES))
def factory(request):
    made = FACTORIES[request.param]()
    for service in made.services:
        services.require(service)
    made.prepare(request)
    if made.databases is not None:
        request.getfixturevalue("transactional_db")
    yield made
    made.teardown()


@pytest.fixture
def backend(factory):
    return factory.make()
