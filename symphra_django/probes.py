"""Health probes as plain Django views, for Kubernetes, load balancers and monitors.

Mount them in the project's ``urls.py``::

    from django.urls import include, path

    urlpatterns = [
        ...
        path("health/", include("symphra_django.urls")),
    ]

* ``health/live/``: liveness. 200 as long as Django answers; it touches no
  backend, so a broker outage never gets web pods restarted.
* ``health/ready/``: readiness. 200 when every backend alias answers its
  health check, 503 otherwise.
* ``health/``: the full check, as ``manage.py taskstatus --check``: every
  backend reachable, at least one live worker for each configured queue
  (from the worker registry; a backend that does not keep it is not
  counted against), and no queue whose oldest due task has waited longer
  than ``SYMPHRA["MAX_DUE_AGE"]`` (``?max_due_age=SECONDS`` overrides it).
  200 or 503.

Each answer is JSON and never cached. The views need no login: mount them
where only your infrastructure reaches them (they show alias and queue names,
counts and masked error lines, never a password).
"""

from __future__ import annotations

import math

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from symphra_django.ops import health


def _answer(report: health.HealthReport, *, ok: bool) -> JsonResponse:
    data = report.to_dict()
    data["ok"] = ok
    return JsonResponse(data, status=200 if ok else 503)


@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """200 while the process answers requests."""
    return JsonResponse({"ok": True})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """200 when every backend alias answers; 503 with the ones that do not."""
    report = health.check(counts=False, workers=False)
    return _answer(report, ok=all(alias.reachable for alias in report.aliases))


@never_cache
@require_GET
def status(request: HttpRequest) -> JsonResponse:
    """The full check: backends, workers per queue, oldest due task; 200 or 503."""
    max_due_age = None
    raw = request.GET.get("max_due_age")
    if raw is not None:
        try:
            max_due_age = float(raw)
        except ValueError:
            max_due_age = math.nan
        if not math.isfinite(max_due_age) or max_due_age < 0:
            return JsonResponse({"ok": False, "problems": ["max_due_age must be a number of seconds >= 0"]},
                                status=400)
    report = health.check(max_due_age=max_due_age)
    return _answer(report, ok=report.ok)
