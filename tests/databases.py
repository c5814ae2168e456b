"""Test databases on the real PostgreSQL and MariaDB servers, made on demand.

pytest-django creates test databases only for aliases named in ``django_db``
markers at collection time; the conformance suite picks its backends through
fixture parameters instead, so the servers' test databases are made here, the
first time a test needs one (kept between runs, migrated each time).
"""

from __future__ import annotations

import pytest
from django.db import connections

from tests import services

#: DATABASES alias → the service (tests/services.py) it runs on.
SERVER_ALIASES = {"postgresql": "postgresql", "mariadb": "mariadb"}

_prepared: set[str] = set()


def use_database(request: pytest.FixtureRequest, alias: str) -> None:
    """Make ``alias`` usable by the current test, with a flush after it.

    Call from a function-scoped fixture before the test touches the database.
    """
    if alias in SERVER_ALIASES:
        services.require(SERVER_ALIASES[alias])
        if alias not in _prepared:
            with request.getfixturevalue("django_db_blocker").unblock():
                connections[alias].creation.create_test_db(
                    verbosity=0, autoclobber=True, keepdb=True, serialize=False
                )
            _prepared.add(alias)
    request.applymarker(
        pytest.mark.django_db(transaction=True, databases=sorted({"default", alias}))
    )
    request.getfixturevalue("transactional_db")
