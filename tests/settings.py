"""Settings for the test suite (pytest-django)."""

import os
import tempfile

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "symphra_django",
    "tests.sampleapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
# The admin's CSS, served by pytest-django's live_server to the browser test.
STATIC_URL = "static/"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
# A file, not :memory:, so that subprocesses (runscheduler) share it; one per
# test run (inherited by its subprocesses) so that concurrent runs do not clash.
os.environ.setdefault("SYMPHRA_TEST_DB", os.path.join(tempfile.gettempdir(), f"symphra-tests-{os.getpid()}.sqlite3"))
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        # A file, not :memory:, so that subprocesses (runscheduler) share it.
        "NAME": os.environ["SYMPHRA_TEST_DB"],
        "TEST": {"NAME": os.environ["SYMPHRA_TEST_DB"]},
        "OPTIONS": {"timeout": 20},
    }
}
# The real servers of DESIGN.md section 8. Defining them connects nothing:
# tests that use them call tests.support.services.require() first (skip locally, fail
# under CI) and set up their test databases on demand (tests/support/databases.py).
# One test database per run (the pid), so that runs at the same time on one
# machine do not flush each other's tables.
_SERVER_TEST_DB = f"test_symphra_{os.getpid()}"
DATABASES["postgresql"] = {
    "ENGINE": "django.db.backends.postgresql",
    "HOST": "127.0.0.1",
    "PORT": 5432,
    "NAME": "test",
    "USER": os.environ.get("SYMPHRA_PG_USER", "postgres"),
    "TEST": {"NAME": _SERVER_TEST_DB},
}
DATABASES["mariadb"] = {
    "ENGINE": "django.db.backends.mysql",
    "HOST": "127.0.0.1",
    "PORT": 3306,
    "NAME": "test",
    "USER": "root",
    "PASSWORD": "",
    "OPTIONS": {"charset": "utf8mb4"},
    "TEST": {"NAME": _SERVER_TEST_DB, "CHARSET": "utf8mb4", "COLLATION": "utf8mb4_bin"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SYMPHRA = {
    "BACKENDS": {"default": {"BACKEND": "memory"}},
    "QUEUES": ["default", "emails", "reports"],
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"symphra_django": {"handlers": ["console"], "level": "WARNING"}},
}
