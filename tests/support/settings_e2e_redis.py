"""Settings for runscheduler subprocesses on the Redis backend.

Like ``tests.support.settings_e2e`` (runs are counted as rows in the SQLite file of
``SYMPHRA_E2E_DB``) but the queue is Redis (``SYMPHRA_E2E_REDIS_URL``, by
default the local server) under the key prefix ``SYMPHRA_E2E_REDIS_PREFIX``,
so every test has its own queues.
"""

import os

from tests.support.settings_e2e import *  # noqa: F403
from tests.support.settings_e2e import SYMPHRA

SYMPHRA = {
    **SYMPHRA,
    "BACKENDS": {
        "default": {
            "BACKEND": "redis",
            "OPTIONS": {
                "url": os.environ.get("SYMPHRA_E2E_REDIS_URL", "redis://127.0.0.1:6379/0"),
                "key_prefix": os.environ["SYMPHRA_E2E_REDIS_PREFIX"],
            },
        },
    },
}
