"""Settings for runscheduler subprocesses on the RabbitMQ backend.

Like ``tests.support.settings_e2e`` (runs are counted as rows in the SQLite file of
``SYMPHRA_E2E_DB``, which also holds the backend's ledger) but the queue is
the local RabbitMQ under the namespace ``SYMPHRA_E2E_EXCHANGE``, so every test
has its own exchanges and queues.
"""

import os

from tests.support.settings_e2e import *  # noqa: F403
from tests.support.settings_e2e import SYMPHRA

SYMPHRA = {
    **SYMPHRA,
    "BACKENDS": {
        "default": {
            "BACKEND": "rabbitmq",
            "OPTIONS": {
                "url": "amqp://guest:guest@127.0.0.1:5672/%2F",
                "exchange_name": os.environ["SYMPHRA_E2E_EXCHANGE"],
            },
        },
    },
}
