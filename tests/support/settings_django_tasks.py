"""Settings for runscheduler subprocesses running Django tasks (Django 6.0+):
the end-to-end settings plus a TASKS alias on symphra_django."""

from tests.support.settings_e2e import *  # noqa: F403

TASKS = {
    "default": {
        "BACKEND": "symphra_django.django_tasks.SymphraBackend",
        "QUEUES": ["default", "emails"],
    }
}
ROOT_URLCONF = "tests.support.django_tasks_urls"
