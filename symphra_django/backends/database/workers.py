"""The worker registry in a Django database (the ``Worker`` model), shared by
the backends that keep state there: database and RabbitMQ (beside its ledger).

One row per worker and alias, written once per heartbeat interval; expired
rows of the alias are deleted by each write and each listing, so the table
stays as small as the number of processes.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, router

from symphra_django.backends.workers import StoredWorker


class SQLWorkerRegistry:
    """The ``save_worker`` … ``request_worker_stop`` operations of the
    contract on the ``Worker`` table of ``worker_database``."""

    alias: str

    @property
    def worker_namespace(self) -> str:
        """The ``backend`` column of this backend's rows: its alias (RabbitMQ:
        its exchange name, like its ledger)."""
        return self.alias

    @property
    def worker_database(self) -> str:
        """The ``DATABASES`` alias of the ``Worker`` table (where the router
        sends it; ``default`` without one)."""
        from symphra_django.models import Worker

        return router.db_for_write(Worker) or DEFAULT_DB_ALIAS

    def _workers(self) -> Any:
        from symphra_django.models import Worker

        return Worker.objects.db_manager(self.worker_database).filter(backend=self.worker_namespace)

    def save_worker_sync(self, worker_id: str, record: str, ttl: float, *, fresh: bool = False) -> bool:
        now = time.time()
        rows = self._workers()
        fields = {"record": record, "heartbeat_at": now, "expires_at": now + ttl}
        if fresh:
            fields["stop_requested"] = False
        if not rows.filter(worker_id=worker_id).update(**fields):
            try:
                rows.create(backend=self.worker_namespace, worker_id=worker_id, **fields)
            except IntegrityError:  # written meanwhile by the same id: ours is the newest anyway
                rows.filter(worker_id=worker_id).update(**fields)
        rows.filter(expires_at__lt=now).delete()
        return bool(rows.filter(worker_id=worker_id, stop_requested=True).exists())

    def load_workers_sync(self, limit: int = 500) -> list[StoredWorker]:
        rows = self._workers()
        rows.filter(expires_at__lt=time.time()).delete()
        return [
            StoredWorker(worker_id, record, stop)
            for worker_id, record, stop in rows.order_by("-heartbeat_at").values_list(
                "worker_id", "record", "stop_requested"
            )[:limit]
        ]

    def delete_worker_sync(self, worker_id: str) -> bool:
        deleted, _ = self._workers().filter(worker_id=worker_id).delete()
        return bool(deleted)

    def request_worker_stop_sync(self, worker_id: str) -> bool:
        return bool(
            self._workers().filter(worker_id=worker_id, expires_at__gte=time.time()).update(stop_requested=True)
        )
