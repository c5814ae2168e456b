from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed
from django.utils.module_loading import autodiscover_modules


def mask_symphra_secrets(**kwargs: Any) -> None:
    """Make the passwords of ``settings.SYMPHRA`` print masked (Django's debug
    page and error e-mails print settings and locals with ``repr``); the
    values themselves are unchanged."""
    from django.conf import settings

    from symphra_django.utils.secrets import mask_secrets_in_place

    if kwargs.get("setting", "SYMPHRA") == "SYMPHRA":
        mask_secrets_in_place(getattr(settings, "SYMPHRA", None))


class SymphraConfig(AppConfig):
    name = "symphra_django"
    verbose_name = "Symphra tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from symphra_django import checks  # noqa: F401 - registers the system checks
        from symphra_django.backends import database_checks  # noqa: F401 - checks of queue databases
        from symphra_django.django_tasks import app_ready as django_tasks_ready

        mask_symphra_secrets()
        setting_changed.connect(mask_symphra_secrets, dispatch_uid="symphra_django.mask_secrets")
        # Like the admin's autodiscover of admin.py: declare every app's tasks.
        autodiscover_modules("tasks")
        # Django's tasks framework (Django 6+): the runners of our TASKS queues.
        django_tasks_ready()
        start_prometheus()


def start_prometheus() -> None:
    """Count task events for Prometheus when ``SYMPHRA["PROMETHEUS"]`` asks
    for it and the library is there (the system check symphra_django.E009
    reports it missing, E001 a bad value)."""
    from django.core.exceptions import ImproperlyConfigured

    from symphra_django import prometheus

    try:
        wanted = prometheus.enabled_in_settings()
    except ImproperlyConfigured:
        return
    if wanted and prometheus.available():
        prometheus.enable()
