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


__all__ = [
    "BackendUnavailable",
    "CorruptPayload",
    "EnqueueError",
    "ImproperlyConfigured",
    "SymphraError",
    "TaskDeclarationError",
    "TaskTimeout",
]
