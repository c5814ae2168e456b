"""Prometheus metrics, with the standard client library ``prometheus_client``
(the ``prometheus`` extra: ``pip install "symphra-django[prometheus]"``).

Two kinds of metrics, described in docs/observability.md:

* **task events**, counted in the process where they happen (enqueued in
  web processes, started/succeeded/failed/retried and run times in workers),
  fed by the signals of :mod:`symphra_django.signals`: counted once
  :func:`enable` has connected their receivers, which the app does at start
  when ``SYMPHRA["PROMETHEUS"]`` is set, and ``runscheduler --metrics-port``
  does for its processes;
* **queue state** (tasks by state, oldest due age, backend up, workers),
  read from the backends at scrape time, each alias under one deadline.

Served by :func:`symphra_django.prometheus.views.metrics` (a Django view the
project mounts) and by ``runscheduler --metrics-port``.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured

__all__ = ["available", "enable", "missing_message", "serving_registry"]

MISSING = (
    "Prometheus metrics need the prometheus_client package, which is not installed: "
    'pip install "symphra-django[prometheus]" (or prometheus_client).'
)


def available() -> bool:
    """Whether ``prometheus_client`` can be imported."""
    return importlib.util.find_spec("prometheus_client") is not None


def missing_message() -> str:
    return MISSING


def enable() -> None:
    """Count task events in this process from now on (idempotent).

    ImproperlyConfigured if ``prometheus_client`` is not installed.
    """
    if not available():
        raise ImproperlyConfigured(MISSING)
    from symphra_django.prometheus import events

    events.connect()


def enabled_in_settings() -> bool:
    """Whether ``SYMPHRA["PROMETHEUS"]`` asks for task events to be counted."""
    from symphra_django import conf

    return bool(conf.get("PROMETHEUS")["ENABLED"])


def serving_registry(scrape_timeout: float | None = None) -> Any:
    """What a scrape serves: the task event metrics of this process (of
    every process writing to ``PROMETHEUS_MULTIPROC_DIR`` when it is set)
    and the queue state read now from the backends."""
    from prometheus_client import REGISTRY, CollectorRegistry

    from symphra_django.prometheus.collector import Combined, QueueCollector

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)
    else:
        base = REGISTRY
    return Combined(base, QueueCollector(scrape_timeout))
