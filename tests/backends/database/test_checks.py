"""System checks of the databases behind database queue backends."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connections
from django.test import override_settings

from symphra_django.backends.database.checks import check_queue_databases
from tests.support.databases import use_database


def on(database: str):
    return override_settings(
        SYMPHRA={"BACKENDS": {"default": {"BACKEND": "database", "OPTIONS": {"database": database}}}}
    )


def ids(errors) -> list[str]:
    return [error.id for error in errors]


@pytest.mark.parametrize("alias", ["default", "postgresql", "mariadb"])
def test_supported_servers_pass(request, alias):
    use_database(request, alias)
    with on(alias):
        assert check_queue_databases(databases=[alias]) == []


def test_a_database_alias_missing_from_databases_is_an_error():
    with override_settings(SYMPHRA={"BACKENDS": {"default": {"BACKEND": "database", "OPTIONS": {"database": "gone"}}}}):
        [error] = check_queue_databases()
    assert error.id == "symphra_django.E101" and "'gone'" in error.msg


def test_an_engine_without_support_is_an_error_naming_the_alias():
    # Oracle and the like cannot run here: their vendor name is the fault.
    with on("postgresql"), mock.patch.object(connections["postgresql"], "vendor", "oracle"):
        [error] = check_queue_databases()
    assert error.id == "symphra_django.E102"
    assert "DATABASES['postgresql']" in error.msg and "'oracle'" in error.msg


@pytest.mark.parametrize(
    ("mariadb", "version", "named"),
    [(True, (10, 5, 22), "MariaDB 10.5.22"), (False, (5, 7, 44), "MySQL 5.7.44")],
)
def test_mysql_and_mariadb_without_skip_locked_are_errors(request, mariadb, version, named):
    # Old servers are not on this machine: their version is what we fake.
    use_database(request, "mariadb")
    connection = connections["mariadb"]
    with on("mariadb"), mock.patch.multiple(
        connection, mysql_is_mariadb=mariadb, mysql_version=version, create=True
    ):
        [error] = check_queue_databases(databases=["mariadb"])
    assert error.id == "symphra_django.E103"
    assert "DATABASES['mariadb']" in error.msg and named in error.msg
    assert "SKIP LOCKED" in error.msg


def test_versions_are_not_read_without_database_access():
    with on("mariadb"), mock.patch(
        "symphra_django.backends.database.checks.version_problem"
    ) as version_problem:
        assert check_queue_databases() == []
    version_problem.assert_not_called()


def test_a_case_insensitive_id_collation_on_mariadb_is_a_warning(request):
    use_database(request, "mariadb")
    table = "symphra_task_queue"
    alter = f"ALTER TABLE {table} MODIFY id varchar(255) CHARACTER SET utf8mb4 COLLATE %s NOT NULL"
    with connections["mariadb"].cursor() as cursor:
        cursor.execute(alter % "utf8mb4_general_ci")
        try:
            with on("mariadb"):
                [warning] = check_queue_databases(databases=["mariadb"])
        finally:
            cursor.execute(alter % "utf8mb4_bin")
    assert warning.id == "symphra_django.W101" and "utf8mb4_general_ci" in warning.msg
