"""Django settings of the benchmark processes (the measuring one and runscheduler).

The environment picks the backend under test (``SYMPHRA_BENCH_BACKEND``, a
name in benchmarks.backends) and the scratch folder (``SYMPHRA_BENCH_DIR``);
the backend becomes the ``default`` alias, so ``noop.enqueue()`` and
``runscheduler`` use it as a project would.
"""

import os

from benchmarks.backends import BACKENDS

BENCH_DIR = os.environ.get("SYMPHRA_BENCH_DIR", ".")
BACKEND = BACKENDS[os.environ.get("SYMPHRA_BENCH_BACKEND", "memory")]

SECRET_KEY = "benchmarks-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "symphra_django",
    "benchmarks",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {"default": BACKEND.database(BENCH_DIR)}
SYMPHRA = {
    "BACKENDS": {"default": BACKEND.symphra()},
    "QUEUES": ["default"],
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"symphra_django": {"handlers": ["console"], "level": "INFO"}},
}
