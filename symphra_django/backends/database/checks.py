"""System checks of the databases that hold queue tables.

The database backend needs ``UPDATE … RETURNING`` on SQLite (3.35+) and
``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL and MySQL 8.0.1+ / MariaDB
10.6+; without it, concurrent workers could not claim disjoint tasks. Engine
names are checked always; server versions (and, on MySQL/MariaDB, whether
task ids compare case-sensitively) only when the checks are run with database
access (``check --database ALIAS``, ``migrate``).
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections

from symphra_django.backends.database.claims import SUPPORTED_VENDORS
from symphra_django.backends.database.config import queue_databases
from symphra_django.models import QueuedTask

MIN_MYSQL = (8, 0, 1)
MIN_MARIADB = (10, 6)
MIN_SQLITE = (3, 35, 0)


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def version_problem(alias: str) -> str | None:
    """Why the server behind ``alias`` cannot host the queue, or None."""
    connection = connections[alias]
    if connection.vendor == "sqlite":
        version = connection.Database.sqlite_version_info
        if version < MIN_SQLITE:
            return f"SQLite {_dotted(version)} has no UPDATE … RETURNING (needs {_dotted(MIN_SQLITE)}+)"
    elif connection.vendor == "mysql":
        version = connection.mysql_version
        if connection.mysql_is_mariadb and version < MIN_MARIADB:
            return f"MariaDB {_dotted(version)} has no SKIP LOCKED (needs {_dotted(MIN_MARIADB)}+)"
        if not connection.mysql_is_mariadb and version < MIN_MYSQL:
            return f"MySQL {_dotted(version)} has no SKIP LOCKED (needs {_dotted(MIN_MYSQL)}+)"
    return None


def id_collation(alias: str) -> str | None:
    """The collation of the queue table's id column on MySQL/MariaDB (None
    elsewhere, or before ``migrate``)."""
    connection = connections[alias]
    if connection.vendor != "mysql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE "
            "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s",
            [QueuedTask._meta.db_table, QueuedTask._meta.get_field("id").column],
        )
        row = cursor.fetchone()
    return row[0] if row else None


@register("symphra")
def check_queue_databases(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    try:
        aliases = queue_databases()
    except ImproperlyConfigured:
        return []  # the SYMPHRA setting itself is invalid: symphra_django.E001 says how
    for alias in aliases:
        key = f"settings.DATABASES[{alias!r}]"
        if alias not in connections.settings:
            errors.append(Error(
                f"a database queue backend uses database {alias!r}, which is not in "
                f"settings.DATABASES ({', '.join(map(repr, connections.settings))}).",
                id="symphra_django.E101",
            ))
            continue
        vendor = connections[alias].vendor
        if vendor not in SUPPORTED_VENDORS:
            errors.append(Error(
                f"{key} is a {vendor!r} database; the database queue backend supports "
                f"{', '.join(SUPPORTED_VENDORS)}.",
                hint="Put the queue in a supported database with the backend's "
                "'database' option and symphra_django.routers.QueueRouter.",
                id="symphra_django.E102",
            ))
            continue
        if databases is None or alias not in databases:
            continue
        try:
            problem = version_problem(alias)
            collation = id_collation(alias)
        except DatabaseError as exc:
            problem, collation = f"its version could not be read ({exc})", None
        if collation and not collation.endswith("_bin"):
            errors.append(CheckWarning(
                f"the task queue table in {key} compares task ids with the "
                f"case-insensitive collation {collation!r}: ids that differ only in "
                "case are taken for the same task.",
                hint="Create the database with COLLATE utf8mb4_bin before migrating "
                "(docs/backends/database.md).",
                id="symphra_django.W101",
            ))
        if problem:
            errors.append(Error(
                f"{key} cannot host the task queue: {problem}. Workers would not "
                "claim disjoint tasks.",
                hint="Upgrade the server, or move the queue to a supported database "
                "(docs/backends/database.md).",
                id="symphra_django.E103",
            ))
    return errors
