"""Import paths of modules that moved when the package was laid out by area.

``symphra_django.scheduler``, ``symphra_django.context``,
``symphra_django.backends.database_history`` and the other flat modules of
0.1 keep importing: each old name is an alias of the module that now holds
its code (docs/architecture.md lists them). New code uses the new paths.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

#: Old module path → the module that holds its code now.
MOVED = {
    f"symphra_django.{old}": f"symphra_django.{new}"
    for old, new in {
        "tasks": "tasks",  # was a module, now the package re-exporting it
        "periodic": "tasks.periodic",
        "schedules": "tasks.schedules",
        "retry": "tasks.retry",
        "registry": "tasks.registry",
        "context": "tasks.context",
        "scheduler": "runtime.scheduler",
        "worker": "runtime.worker",
        "beat": "runtime.beat",
        "execution": "runtime.runner",
        "runner": "runtime.processes",
        "doorbell": "runtime.doorbell",
        "ledger": "runtime.ticks",
        "maintenance": "runtime.housekeeping",
        "throughput": "runtime.throughput",
        "metrics": "runtime.metrics",
        "status": "ops.status",
        "moving": "ops.moving",
        "pruning": "ops.pruning",
        "validation": "utils.identifiers",
        "urls_masking": "utils.secrets",
        "backends.database_checks": "backends.database.checks",
        "backends.database_config": "backends.database.config",
        "backends.database_history": "backends.database.history",
        "backends.database_inspection": "backends.database.inspection",
        "backends.database_sql": "backends.database.claims",
        "backends.database_time": "backends.database.times",
        "backends.redis_client": "backends.redis.client",
        "backends.redis_connection": "backends.redis.connection",
        "backends.redis_keys": "backends.redis.keys",
        "backends.redis_wakeup": "backends.redis.wakeup",
        "backends.rabbitmq_failed": "backends.rabbitmq.failed",
        "backends.rabbitmq_inbox": "backends.rabbitmq.inbox",
        "backends.rabbitmq_ledger": "backends.rabbitmq.ledger",
        "backends.rabbitmq_ledger_sql": "backends.rabbitmq.ledger_sql",
        "backends.rabbitmq_link": "backends.rabbitmq.link",
        "backends.rabbitmq_publisher": "backends.rabbitmq.publisher",
        "backends.rabbitmq_topology": "backends.rabbitmq.topology",
        "models.operations": "models.permissions",
        "django_tasks.runner": "django_tasks.bridge",
    }.items()
    if old != new
}


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old path as the module that holds its code now (the same
    module object, so patching either name patches both)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """The module ran when it was imported under its own name."""


def install() -> None:
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        # Last: a real module of that name, if one ever exists, wins.
        sys.meta_path.append(MovedModuleFinder())
