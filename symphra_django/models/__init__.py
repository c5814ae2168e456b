"""Database tables of symphra_django, one module per job."""

from symphra_django.installation import require_installed

# Without the app in INSTALLED_APPS, Django would refuse the first model with
# a generic "doesn't declare an explicit app_label": say what to do instead.
require_installed()

from symphra_django.models.broker import BrokerTask  # noqa: E402
from symphra_django.models.periodic import PeriodicSchedule  # noqa: E402
from symphra_django.models.permissions import FailedTask, Queue  # noqa: E402
from symphra_django.models.queue import QueuedTask  # noqa: E402
from symphra_django.models.results import DjangoTaskResult  # noqa: E402
from symphra_django.models.schedules import ScheduleState  # noqa: E402
from symphra_django.models.throughput import ThroughputMinute  # noqa: E402
from symphra_django.models.workers import Worker  # noqa: E402

__all__ = [
    "BrokerTask", "DjangoTaskResult", "FailedTask", "PeriodicSchedule", "Queue", "QueuedTask", "ScheduleState",
    "ThroughputMinute", "Worker",
]
