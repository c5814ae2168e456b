"""Database tables of symphra_django, one module per job."""

from symphra_django.models.broker import BrokerTask
from symphra_django.models.periodic import PeriodicSchedule
from symphra_django.models.permissions import FailedTask, Queue
from symphra_django.models.queue import QueuedTask
from symphra_django.models.results import DjangoTaskResult
from symphra_django.models.schedules import ScheduleState
from symphra_django.models.throughput import ThroughputMinute

__all__ = [
    "BrokerTask", "DjangoTaskResult", "FailedTask", "PeriodicSchedule", "Queue", "QueuedTask", "ScheduleState",
    "ThroughputMinute",
]
