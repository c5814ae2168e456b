"""benchmarks.settings plus the every-second periodic task (benchmarks/ticks.py)."""

from benchmarks.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "benchmarks.ticking"]  # noqa: F405
