"""The router example of docs/backends/database.md, as settings for a test.

The main database and a dedicated queue database are two SQLite files in
``$SYMPHRA_ROUTER_DIR`` (in a real project the main one is often PostgreSQL).
"""

import os
from pathlib import Path

DIRECTORY = Path(os.environ["SYMPHRA_ROUTER_DIR"])

SECRET_KEY = "tests-only-not-secret"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "symphra_django",
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DIRECTORY / "main.sqlite3"},
    "queue": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DIRECTORY / "queue.sqlite3",
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL",
        },
    },
}
DATABASE_ROUTERS = ["symphra_django.routers.QueueRouter"]
SYMPHRA = {"BACKENDS": {"default": {"BACKEND": "database", "OPTIONS": {"database": "queue"}}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
