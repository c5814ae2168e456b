"""Settings for runscheduler subprocesses in end-to-end tests.

The database file comes from ``SYMPHRA_E2E_DB``; the queue is the database
backend on it, so the test process and every subprocess share one queue.
"""

import faulthandler
import os
import signal

from tests.settings import *  # noqa: F403

# A process that does not stop in time is asked for every thread's stack
# (tests.support.processes.finish), so that a hang says where it hangs.
faulthandler.register(signal.SIGUSR2, all_threads=True)

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["SYMPHRA_E2E_DB"],
        "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL"},
    }
}
SYMPHRA = {
    "BACKENDS": {"default": {"BACKEND": "database"}},
    "QUEUES": ["default", "emails", "reports"],
    "LEASE_SECONDS": float(os.environ.get("SYMPHRA_E2E_LEASE", "60")),
    "POLL_INTERVAL": 0.05,
    "HEARTBEAT_INTERVAL": float(os.environ.get("SYMPHRA_E2E_HEARTBEAT", "5")),
    "WORKER_TIMEOUT": float(os.environ.get("SYMPHRA_E2E_WORKER_TIMEOUT", "30")),
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"symphra_django": {"handlers": ["console"], "level": "INFO"}},
}
