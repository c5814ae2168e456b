"""Database tables of symphra_django, one module per job."""

from .broker import BrokerTask
from .operations import FailedTask, Queue
from .queue import QueuedTask
from .results import DjangoTaskResult
from .schedules import ScheduleState
from .throughput import ThroughputMinute

__all__ = ["BrokerTask", "DjangoTaskResult", "FailedTask", "Queue", "QueuedTask", "ScheduleState", "ThroughputMinute"]
