"""Finding the Django task a queued call names, without importing arbitrary code.

A queue message names its Django task by ``module_path`` (``app.tasks.fn``).
Importing whatever dotted path a message carries would be code execution for
anyone who can write to the queue, so a path resolves
only when

* its module belongs to an installed app (the code the project chose to run),
  or the task was validated by our backend in this process; and
* the object found there is a ``django.tasks.Task`` whose ``module_path`` is
  that path and whose backend alias is one of ours (a ``SymphraBackend``).

Anything else raises :class:`UnknownDjangoTask` with the reason.
"""

from __future__ import annotations

import importlib
import sys
import threading

from django.apps import apps
from django.tasks import Task, task_backends
from django.tasks.exceptions import InvalidTaskBackend

_validated: set[str] = set()
_lock = threading.Lock()


class UnknownDjangoTask(LookupError):
    """A queued call names no Django task this process may run."""


def remember(task: Task) -> None:
    """Note a task our backend validated in this process (so a module outside
    the installed apps, e.g. a test module, can still be resolved here)."""
    with _lock:
        _validated.add(task.module_path)


def resolve_task(path: str, alias: str) -> Task:
    """The Django task at ``path`` enqueued through TASKS alias ``alias``."""
    from symphra_django.django_tasks.backend import SymphraBackend

    module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute.isidentifier():
        raise UnknownDjangoTask(f"{path!r} is not the module path of a task function")
    if path not in _validated and apps.get_containing_app_config(module_name) is None:
        raise UnknownDjangoTask(
            f"{path!r} is not in an installed app: only tasks of INSTALLED_APPS modules are run "
            "(a queued path is never imported otherwise)"
        )
    try:
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownDjangoTask(f"cannot import the module of {path!r}: {exc}") from None
    found = getattr(module, attribute, None)
    if not isinstance(found, Task) or found.module_path != path:
        raise UnknownDjangoTask(f"{path!r} is not a @django.tasks.task function")
    try:
        backend = task_backends[alias]
    except InvalidTaskBackend:
        raise UnknownDjangoTask(f"TASKS has no alias {alias!r} (needed by {path!r})") from None
    if not isinstance(backend, SymphraBackend):
        raise UnknownDjangoTask(
            f"TASKS[{alias!r}] is {type(backend).__name__}, not SymphraBackend: "
            f"{path!r} was not enqueued through symphra_django"
        )
    if found.backend != alias:
        # Enqueued with .using(backend=alias): the same function, another alias.
        found = found.using(backend=alias)
    return found
