"""What users write: tasks, their schedules and retry policies.

``base`` holds :class:`Task`, the ``@task`` decorator and enqueueing;
``periodic`` the schedule decorators (``@cron``, ``@interval``, …) over the
``schedules`` they build; ``retry`` the retry policies; ``registry`` the
declared tasks (the only way a queued name becomes code); ``context`` the
message a task is running.
"""

from __future__ import annotations

from symphra_django.tasks.base import (
    ENQUEUE_OPTIONS,
    BoundTask,
    EnqueueOptions,
    Task,
    check_json_arguments,
    check_priority,
    check_queue,
    declare,
    known_queues,
    scheduled_timestamp,
    task,
)
from symphra_django.tasks.context import current_message
from symphra_django.tasks.periodic import cron, daily, every, hourly, interval, monthly, once, scheduled, weekly
from symphra_django.tasks.registry import TaskRegistry, registry
from symphra_django.tasks.retry import RetryPolicy, RetryStrategy

__all__ = [
    "ENQUEUE_OPTIONS",
    "BoundTask",
    "EnqueueOptions",
    "RetryPolicy",
    "RetryStrategy",
    "Task",
    "TaskRegistry",
    "check_json_arguments",
    "check_priority",
    "check_queue",
    "cron",
    "current_message",
    "daily",
    "declare",
    "every",
    "hourly",
    "interval",
    "known_queues",
    "monthly",
    "once",
    "registry",
    "scheduled",
    "scheduled_timestamp",
    "task",
    "weekly",
]
