"""The registry of declared tasks: the only way a queued name becomes code.

Workers resolve a message's task name here and nowhere else; a dotted path
found in a payload is never imported (that would be code execution for anyone
who can write to the queue).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from symphra_django.exceptions import TaskDeclarationError

if TYPE_CHECKING:
    from symphra_django.tasks.base import Task


#: Names in the tick ledger of the schedules kept in the database start with
#: this (``db-schedule:<id>``); no task may, so the two never collide.
RESERVED_PREFIX = "db-schedule:"


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._lock = threading.Lock()

    def register(self, task: Task) -> Task:
        if task.name.startswith(RESERVED_PREFIX):
            raise TaskDeclarationError(
                f"task name {task.name!r} starts with {RESERVED_PREFIX!r}, which names database schedules; "
                "give the task another name=..."
            )
        with self._lock:
            existing = self._tasks.get(task.name)
            if existing is not None and existing.origin != task.origin:
                raise TaskDeclarationError(
                    f"duplicate task name {task.name!r}: declared by {existing.origin} and "
                    f"by {task.origin}; give one of them another name=..."
                )
            self._tasks[task.name] = task
        return task

    def unregister(self, name: str) -> Task | None:
        with self._lock:
            return self._tasks.pop(name, None)

    def get(self, name: str) -> Task | None:
        return self._tasks.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[Task]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)

    def periodic(self) -> list[Task]:
        return [task for task in self if task.schedule is not None]

    def queue_names(self, backend: str | None = None) -> set[str]:
        """Queues of the declared tasks (only those on alias ``backend`` if given)."""
        return {task.queue for task in self if backend is None or task.backend == backend}


#: Tasks declared with the decorators of ``symphra_django``.
registry = TaskRegistry()
