"""Exceptions raised by symphra_django."""

from django.core.exceptions import ImproperlyConfigured


class SymphraError(Exception):
    """Base class of the errors this app raises at run time."""


class TaskDeclarationError(ValueError, SymphraError):
    """A task or schedule was declared with a bad value (raised at import time)."""


class EnqueueError(ValueError, SymphraError):
    """A task could not be enqueued because of what the caller passed."""


class CorruptPayload(ValueError, SymphraError):
    """A message read from a queue is not a valid symphra task payload."""


class BackendUnavailable(SymphraError):
    """The queue backend cannot be reached (after the configured retries)."""


class TaskTimeout(SymphraError):
    """A task ran longer than its timeout."""


class NotMigrated(ImproperlyConfigured, SymphraError):
    """symphra_django's tables are missing from a database: ``manage.py migrate``
    has not been run there (the message says which command to run)."""


class MissingPackage(ImproperlyConfigured, SymphraError):
    """A configured backend needs a package that is not installed (an extra of
    symphra-django; the message names the ``pip install`` to run)."""

    def __init__(self, package: str, *, needed_by: str, extra: str) -> None:
        self.package = package
        super().__init__(
            f"{needed_by} needs the {package!r} package, which is not installed: "
            f"pip install 'symphra-django[{extra}]'"
        )


__all__ = [
    "BackendUnavailable",
    "CorruptPayload",
    "EnqueueError",
    "ImproperlyConfigured",
    "MissingPackage",
    "NotMigrated",
    "SymphraError",
    "TaskDeclarationError",
    "TaskTimeout",
]
