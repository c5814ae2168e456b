"""URLs a project may mount: the health probes (see :mod:`symphra_django.probes`).

``path("health/", include("symphra_django.urls"))`` gives ``health/``,
``health/live/`` and ``health/ready/``.
"""

from django.urls import path

from symphra_django import probes

app_name = "symphra_django"

urlpatterns = [
    path("", probes.status, name="health"),
    path("live/", probes.live, name="live"),
    path("ready/", probes.ready, name="ready"),
]
