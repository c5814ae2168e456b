from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class SymphraConfig(AppConfig):
    name = "symphra_django"
    verbose_name = "Symphra tasks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from symphra_django import checks  # noqa: F401 - registers the system checks
        from symphra_django.backends import database_checks  # noqa: F401 - checks of queue databases
        from symphra_django.django_tasks import app_ready as django_tasks_ready

        # Like the admin's autodiscover of admin.py: declare every app's tasks.
        autodiscover_modules("tasks")
        # Django's tasks framework (Django 6+): the runners of our TASKS queues.
        django_tasks_ready()
