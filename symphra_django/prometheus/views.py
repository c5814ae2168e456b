"""The metrics endpoint, a view the project mounts::

    # urls.py
    from django.urls import path

    from symphra_django.prometheus.views import metrics

    urlpatterns = [
        ...,
        path("metrics", metrics),
    ]

It answers the clients of ``SYMPHRA["PROMETHEUS"]["ALLOWED_NETWORKS"]``
(by ``REMOTE_ADDR``; every client when None) and anyone else with 403.
"""

from __future__ import annotations

import ipaddress

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from symphra_django import conf, prometheus

__all__ = ["metrics"]


def client_allowed(request: HttpRequest) -> bool:
    """Whether ``REMOTE_ADDR`` is in ``ALLOWED_NETWORKS`` (always, if None)."""
    networks = conf.get("PROMETHEUS")["ALLOWED_NETWORKS"]
    if networks is None:
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in networks)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format: task event metrics of this process (of
    every process sharing ``PROMETHEUS_MULTIPROC_DIR``) and the queue state
    of every backend alias, read within ``SCRAPE_TIMEOUT``."""
    if not client_allowed(request):
        return HttpResponse("Forbidden: not in SYMPHRA['PROMETHEUS']['ALLOWED_NETWORKS']\n", status=403,
                            content_type="text/plain")
    if not prometheus.available():
        return HttpResponse(prometheus.MISSING + "\n", status=503, content_type="text/plain")
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return HttpResponse(generate_latest(prometheus.serving_registry()), content_type=CONTENT_TYPE_LATEST)
