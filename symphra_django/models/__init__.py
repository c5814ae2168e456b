"""Database tables of symphra_django, one module per job."""

from .queue import QueuedTask
from .schedules import ScheduleState

__all__ = ["QueuedTask", "ScheduleState"]
