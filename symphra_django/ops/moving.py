"""Moving pending tasks from one backend alias to another (``manage.py movetasks``).

For each queue: read every pending task (ready and delayed) at the source
without taking it (``peek``), copy it to the target with the same id,
priority, due time, attempts and payload (``enqueue_many``), verify that the
target holds every copy, and only then remove the queue's tasks at the source
(``clear``).

Safe to re-run after an interruption: copies keep their ids and enqueue of an
id the target already holds is a no-op (C2), so a second run copies only what
is missing, then verifies and deletes; nothing is lost or duplicated.

The source must be quiet while its queue moves: workers stopped (a queue with
tasks in flight is refused, since clearing it would drop their retries) and
producers pointed at the target (see docs/operations.md for the order).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from symphra_django.backends import QueueBackend
from symphra_django.backends.base import NotSupported
from symphra_django.messages import PENDING_STATES, TaskMessage

logger = logging.getLogger("symphra_django.moving")


class MoveError(Exception):
    """A queue cannot be moved safely; nothing was deleted at the source."""


@dataclass
class QueueMove:
    queue: str
    pending: int = 0
    copied: int = 0
    already_there: int = 0
    removed: int = 0
    dry_run: bool = False


Progress = Callable[[QueueMove], None]


def chunks(items: list[TaskMessage], size: int) -> Iterator[list[TaskMessage]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class TaskMover:
    """Moves the pending tasks of queues from ``source`` to ``target``."""

    def __init__(
        self,
        source: QueueBackend,
        target: QueueBackend,
        *,
        batch_size: int = 500,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.source = source
        self.target = target
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.progress = progress or (lambda move: None)

    def queues(self) -> list[str]:
        """Queues of the source that hold tasks."""
        try:
            names = self.source.queues_sync()
        except NotSupported:
            raise MoveError(
                f"{self.source.describe()} cannot list its queues; name them with --queue"
            ) from None
        return sorted(names)

    def pending(self, queue: str) -> list[TaskMessage]:
        """Every ready and delayed task of ``queue`` at the source, untouched."""
        stats = self.source.get_stats_sync(queue)
        if stats.in_flight:
            raise MoveError(
                f"queue {queue!r} of {self.source.describe()} has {stats.in_flight} task(s) in "
                "flight; stop the workers consuming it, let their leases end, then move it"
            )
        expected = stats.ready + stats.delayed
        try:
            tasks = self.source.peek_sync(queue, expected + self.batch_size)
        except NotSupported as exc:
            raise MoveError(f"{self.source.describe()} cannot list its pending tasks: {exc}") from None
        if len(tasks) < expected:
            raise MoveError(
                f"queue {queue!r}: the source reports {expected} pending task(s) but shows only "
                f"{len(tasks)}; nothing was moved"
            )
        return tasks

    def move_queue(self, queue: str) -> QueueMove:
        tasks = self.pending(queue)
        move = QueueMove(queue=queue, pending=len(tasks), dry_run=self.dry_run)
        if self.dry_run or not tasks:
            self.progress(move)
            return move
        moved: set[str] = set()
        # Tasks that reach the source while we copy are copied too before the
        # clear; a quiet source needs one pass.
        while tasks:
            for batch in chunks(tasks, self.batch_size):
                self._copy(queue, batch, move)
                moved.update(t.id for t in batch)
                self.progress(move)
            tasks = [t for t in self.pending(queue) if t.id not in moved]
            move.pending += len(tasks)
        move.removed = self.source.clear_sync(queue)
        if move.removed > len(moved):
            logger.warning("queue %s: the source cleared %d task(s) but %d were copied; "
                           "something kept enqueueing to it during the move", queue, move.removed, len(moved))
        self.progress(move)
        return move

    def _copy(self, queue: str, batch: list[TaskMessage], move: QueueMove) -> None:
        copies = [task.copy(queue=queue) for task in batch]
        created = self.target.enqueue_many_sync(copies)
        move.copied += created
        move.already_there += len(copies) - created
        self._verify(queue, copies)

    def _verify(self, queue: str, copies: list[TaskMessage]) -> None:
        missing = []
        for task in copies:
            try:
                state = self.target.get_status_sync(task.id, queue)
            except NotSupported:
                return  # enqueue returned, so it is stored (C1)
            if state not in PENDING_STATES:  # a target worker may have taken it already
                missing.append(task.id)
        if missing:
            raise MoveError(
                f"queue {queue!r}: {len(missing)} copied task(s) are not at the target "
                f"(e.g. {missing[0]!r}); nothing was deleted at the source"
            )


def move_tasks(
    source: QueueBackend,
    target: QueueBackend,
    queues: list[str] | None = None,
    **options: object,
) -> list[QueueMove]:
    """Move every pending task of ``queues`` (default: all the source holds)."""
    if source is target:
        raise MoveError("the source and the target are the same backend")
    mover = TaskMover(source, target, **options)  # type: ignore[arg-type]
    return [mover.move_queue(queue) for queue in (queues or mover.queues())]
