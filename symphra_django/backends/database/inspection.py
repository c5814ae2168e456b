"""The database backend's inspection and failed-store methods, on the ORM.

Stats, status, peek, queues, clear and the failed store are not on the hot
path: they use the ORM through ``QueuedTask.objects.using(database)``. Mixed
into :class:`~symphra_django.backends.database.backend.DatabaseBackend`, which
provides ``database``, ``_run`` (retries) and ``_expire_leases``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BinaryField, Case, Count, F, IntegerField, Min, Q, QuerySet, Value, When
from django.db.models.functions import Cast, Lower

from symphra_django.backends.database import claims as sql
from symphra_django.backends.database.times import model_datetime, to_epoch
from symphra_django.backends.failed_store import FailedPage, FailedQuery, act_in_chunks
from symphra_django.exceptions import CorruptPayload
from symphra_django.messages import DELAYED, FAILED, IN_FLIGHT, READY, QueueStats, TaskMessage, message_or_stand_in
from symphra_django.models import QueuedTask

logger = logging.getLogger("symphra_django.backends.database")

T = TypeVar("T")


class DatabaseInspection:
    """Read and manage queue rows with the ORM (see the module docstring)."""

    #: The DATABASES alias of the queue (set by DatabaseBackend).
    database: str

    if TYPE_CHECKING:
        # Provided by DatabaseBackend and QueueBackend; declared here only for
        # the type checker, since at run time they would shadow the real ones.
        def queue_for(self, queue: str | None) -> str: ...
        def describe(self) -> str: ...
        def _run(self, operation: Callable[[BaseDatabaseWrapper], T]) -> T: ...
        def _expire_leases(self) -> None: ...

    def _rows(self, queue: str | None = None):
        rows = QueuedTask.objects.using(self.database)
        return rows if queue is None else rows.filter(queue=self.queue_for(queue))

    def _with_payload(self, rows: QuerySet) -> tuple[QuerySet, str]:
        """``rows`` and the name to read the payload by: as bytes on SQLite,
        which stores text that is not UTF-8 and then fails the whole fetch
        (the claim reads it the same way)."""
        if connections[self.database].vendor == "sqlite":
            return rows.annotate(raw_payload=Cast("payload", BinaryField())), "raw_payload"
        return rows, "payload"

    def get_stats_sync(self, queue: str | None = None) -> QueueStats:
        self._expire_leases()
        now = model_datetime(time.time())
        due = Q(status=sql.READY, scheduled_time__lte=now)
        counts = self._run(
            lambda _: self._rows(self.queue_for(queue)).aggregate(
                ready=Count("pk", filter=due),
                delayed=Count("pk", filter=Q(status=sql.READY, scheduled_time__gt=now)),
                in_flight=Count("pk", filter=Q(status=sql.IN_FLIGHT)),
                failed=Count("pk", filter=Q(status=sql.FAILED)),
                oldest_due=Min("scheduled_time", filter=due),
            )
        )
        oldest = counts.pop("oldest_due")
        return QueueStats(**counts, oldest_due=to_epoch(oldest) if oldest else None)

    def get_queue_size_sync(self, queue: str | None = None) -> int:
        self._expire_leases()
        pending = self._rows(self.queue_for(queue)).pending()
        return self._run(lambda _: pending.count())

    def get_status_sync(self, task_id: str, queue: str | None = None) -> str | None:
        self._expire_leases()
        row = self._run(
            lambda _: self._rows(self.queue_for(queue))
            .filter(pk=task_id)
            .values_list("status", "scheduled_time")
            .first()
        )
        if row is None:
            return None
        status, scheduled = row
        if status == sql.READY:
            return READY if to_epoch(scheduled) <= time.time() else DELAYED
        return {sql.IN_FLIGHT: IN_FLIGHT, sql.FAILED: FAILED}.get(status)

    def peek_sync(self, queue: str | None = None, limit: int = 20) -> list[TaskMessage]:
        now = model_datetime(time.time())
        rows, payload = self._with_payload(self._rows(self.queue_for(queue)))
        due = Q(scheduled_time__lte=now)

        def when(condition: Q, value: Any) -> Case:
            return Case(When(condition, then=value), default=Value(0), output_field=IntegerField())

        # The claim's order for due tasks (priority, time, enqueue order),
        # then delayed ones by when they fall due, then priority.
        rows = (
            rows
            .filter(status=sql.READY)
            .annotate(
                later=when(~due, Value(1)),
                due_rank=when(due, -F("priority")),
                delayed_rank=when(~due, -F("priority")),
            )
            .order_by("later", "due_rank", "scheduled_time", "delayed_rank", "seq")
            .values_list("id", "queue", payload, "attempts", "last_error", "traceback")[:limit]
        )
        return [self._message(*row) for row in self._run(lambda _: list(rows))]

    def get_task_sync(self, task_id: str, queue: str | None = None) -> TaskMessage | None:
        self._expire_leases()
        rows, payload = self._with_payload(
            self._rows(self.queue_for(queue)).filter(pk=task_id, status__in=[sql.READY, sql.IN_FLIGHT, sql.FAILED])
        )
        row = self._run(lambda _: rows.values_list(
            "id", "queue", payload, "attempts", "last_error", "traceback",
            "status", "lease_token", "lease_expires", "finished_at",
        ).first())
        if row is None:
            return None
        *fields, state, token, expires, finished = row
        task = self._message(*fields)
        if state == sql.IN_FLIGHT:
            task.lease_token, task.lease_expires = token, to_epoch(expires) if expires else None
        elif state == sql.FAILED and finished is not None:
            task.meta["failed_at"] = to_epoch(finished)
        return task

    def _message(
        self,
        task_id: str,
        queue: str,
        payload: str | bytes,
        attempts: int,
        error: str | None,
        traceback: str | None,
    ) -> TaskMessage:
        task, unreadable = message_or_stand_in(payload, queue=queue, task_id=task_id)
        if unreadable is not None:
            task.error = error or task.error
            return task
        task.id, task.queue, task.attempts = task_id, queue, attempts
        task.error, task.traceback = error, traceback
        return task

    def queues_sync(self) -> list[str]:
        names = self._rows().values_list("queue", flat=True).distinct().order_by("queue")
        return self._run(lambda _: list(names))

    def clear_sync(self, queue: str | None = None) -> int:
        pending = self._rows(self.queue_for(queue)).pending()
        return self._run(lambda _: pending.delete()[0])

    def health_check_sync(self) -> bool:
        def ping(connection: BaseDatabaseWrapper) -> bool:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                return cursor.fetchone() is not None

        try:
            return self._run(ping)
        except DatabaseError:
            logger.debug("health check of %s failed", self.describe(), exc_info=True)
            return False

    # -- the failed store ---------------------------------------------------------

    def _failed_rows(self, queue: str | None, query: FailedQuery | None = None) -> QuerySet:
        """The failed rows of a queue that match ``query``: the SQL form of
        ``FailedQuery.matches``."""
        rows = self._rows(self.queue_for(queue)).filter(status=sql.FAILED)
        if query is None:
            return rows
        if query.task_name:
            rows = rows.filter(task_name=query.task_name)
        if query.error_kind:
            kind = Q(last_error=query.error_kind)
            for prefix in query.kind_prefixes():
                kind |= Q(last_error__startswith=prefix)
            rows = rows.filter(kind)
        if query.failed_since is not None:
            rows = rows.filter(finished_at__gte=model_datetime(query.failed_since))
        if query.failed_until is not None:
            rows = rows.filter(finished_at__lt=model_datetime(query.failed_until))
        if query.search:
            # Lower() on both sides: icontains follows the column's collation,
            # which is case-sensitive in some MySQL/MariaDB setups.
            text = query.search.lower()
            rows = rows.annotate(
                id_lower=Lower("id"), name_lower=Lower("task_name"), error_lower=Lower("last_error")
            ).filter(Q(id_lower__contains=text) | Q(name_lower__contains=text) | Q(error_lower__contains=text))
        return rows

    def _failed_page(self, failed: QuerySet, limit: int, offset: int) -> list[TaskMessage]:
        rows, payload = self._with_payload(failed)
        rows = rows.order_by("-finished_at", "-seq").values_list(
            "id", "queue", payload, "attempts", "last_error", "traceback", "finished_at"
        )[offset : offset + limit]
        out = []
        for *fields, finished in self._run(lambda _: list(rows)):
            task = self._message(*fields)
            if finished is not None:
                task.meta["failed_at"] = to_epoch(finished)
            out.append(task)
        return out

    def list_failed_sync(
        self, queue: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[TaskMessage]:
        return self._failed_page(self._failed_rows(queue), limit, offset)

    def find_failed_sync(
        self, queue: str | None = None, query: FailedQuery | None = None, limit: int = 100, offset: int = 0
    ) -> FailedPage:
        rows = self._failed_rows(queue, query)
        return FailedPage(self._failed_page(rows, limit, offset), self._run(lambda _: rows.count()))

    def retry_failed_where_sync(self, queue: str | None = None, query: FailedQuery | None = None) -> int:
        ids = self._failed_rows(queue, query).values_list("id", flat=True)
        return act_in_chunks(self._run(lambda _: list(ids)), self.retry_failed_sync, queue)

    def delete_failed_where_sync(self, queue: str | None = None, query: FailedQuery | None = None) -> int:
        rows = self._failed_rows(queue, query)
        return self._run(lambda _: rows.delete()[0])

    def retry_failed_sync(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        failed = self._rows(self.queue_for(queue)).filter(
            pk__in=list(task_ids), status=sql.FAILED
        )
        readable, column = self._with_payload(failed)
        now = time.time()
        moved = 0
        for task_id, _queue, payload in self._run(
            lambda _: list(readable.values_list("id", "queue", column))
        ):
            try:
                payload = TaskMessage.from_json(payload).copy(
                    scheduled_time=now, attempts=0
                ).to_json()
            except CorruptPayload:
                # Retried as is (what was stored): it fails again with its reason.
                payload = F("payload")

            def requeue(_: BaseDatabaseWrapper, task_id: str = task_id, payload: Any = payload) -> int:
                return failed.filter(pk=task_id).update(
                    status=sql.READY, scheduled_time=model_datetime(now), attempts=0,
                    payload=payload, last_error=None, traceback=None, finished_at=None,
                    updated_at=model_datetime(now),
                )

            moved += self._run(requeue)
        return moved

    def delete_failed_sync(self, task_ids: Iterable[str], queue: str | None = None) -> int:
        failed = self._rows(self.queue_for(queue)).filter(
            pk__in=list(task_ids), status=sql.FAILED
        )
        return self._run(lambda _: failed.delete()[0])
