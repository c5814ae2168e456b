from django.apps import AppConfig


class SymphraConfig(AppConfig):
    name = "symphra_django"
    verbose_name = "Symphra tasks"
    default_auto_field = "django.db.models.BigAutoField"
