"""Settings for runscheduler subprocesses on the database backend on a real server.

Like ``tests.support.settings_e2e`` (runs are counted as rows in the SQLite file of
``SYMPHRA_E2E_DB``) but the queue is the database backend on PostgreSQL or
MariaDB (``SYMPHRA_E2E_SERVER``: an alias of tests/settings.py), in a
database of the test's own (``SYMPHRA_E2E_QUEUE_DB``).
"""

import os

from tests.settings import DATABASES as SERVERS
from tests.support.settings_e2e import *  # noqa: F403
from tests.support.settings_e2e import DATABASES, SYMPHRA

DATABASES = {
    **DATABASES,
    # Persistent, as docs/backends/database.md recommends for a queue database.
    "queue": {
        **SERVERS[os.environ["SYMPHRA_E2E_SERVER"]],
        "NAME": os.environ["SYMPHRA_E2E_QUEUE_DB"],
        "CONN_MAX_AGE": None,
    },
}
SYMPHRA = {
    **SYMPHRA,
    "BACKENDS": {"default": {"BACKEND": "database", "OPTIONS": {"database": "queue"}}},
}
