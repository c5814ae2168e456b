"""Running one task call: sync or async, with a timeout, with Django's
database connection hygiene around it (as Django does around a request)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from symphra_django.exceptions import TaskTimeout
from symphra_django.tasks.base import Task
from symphra_django.utils.timeouts import run_with_timeout


def release_connections(keep: frozenset[str] = frozenset()) -> None:
    """Django's ``close_old_connections()`` (as around a request), except that
    connections of the ``keep`` aliases are not closed for age.

    Those are the worker's own queue connections (the database backend claims
    and acknowledges through them): closing them after every task with
    ``CONN_MAX_AGE = 0`` would reconnect for every claim. They are still
    closed when broken or left outside autocommit by a task.
    """
    for conn in initialized_connections():
        if conn.alias in keep:
            conn.close_at = None
        conn.close_if_unusable_or_obsolete()


def initialized_connections() -> list[BaseDatabaseWrapper]:
    """``connections.all(initialized_only=True)``: the database connections
    this thread has opened. That call costs several microseconds per alias
    (asgiref's ``Local`` looks for a running event loop on each access),
    paid after every task; in a thread with no event loop running, the
    connections are the attributes of the plain thread-local behind it, and
    are read from there. Anywhere else, or if asgiref's layout changes,
    Django's own call answers."""
    if asyncio._get_running_loop() is None:
        try:
            storage = object.__getattribute__(connections._connections, "_storage")
            found = vars(storage)
        except (AttributeError, TypeError):
            pass
        else:
            if type(storage) is threading.local:
                return [conn for conn in found.values() if isinstance(conn, BaseDatabaseWrapper)]
    return connections.all(initialized_only=True)


class Runner:
    """Runs task calls for one worker thread (which owns an event loop for
    ``async def`` tasks). ``keep`` names the database aliases the worker's
    queue backend uses (see ``release_connections``)."""

    def __init__(self, keep: frozenset[str] = frozenset()) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self.keep = keep
        self._released = False

    def new_batch(self) -> None:
        """Time may have passed since the last task: check the connections
        again before the next one."""
        self._released = False

    def run(self, task: Task, args: list[Any], kwargs: dict[str, Any]) -> Any:
        timeout = task.effective_timeout
        # Like request_started / request_finished: drop connections that are
        # broken or past CONN_MAX_AGE, so a long-lived worker never keeps a
        # stale connection or leaks one per task. Within a batch the check
        # after one task is the check before the next.
        if not self._released:
            release_connections(self.keep)
        self._released = True
        try:
            if task.is_async:
                return self._run_async(task, args, kwargs, timeout)
            if timeout is None:
                return task.func(*args, **kwargs)
            return run_with_timeout(
                lambda: task.func(*args, **kwargs), timeout, name=f"symphra-task-{task.name}",
                timed_out=lambda: TaskTimeout(f"task {task.name!r} exceeded its timeout of {timeout:g}s"),
            )
        finally:
            release_connections(self.keep)

    def _run_async(self, task: Task, args: list[Any], kwargs: dict[str, Any], timeout: float | None) -> Any:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        try:
            return self._loop.run_until_complete(
                asyncio.wait_for(_contained(task.func(*args, **kwargs)), timeout)
            )
        except TimeoutError:
            raise TaskTimeout(f"task {task.name!r} exceeded its timeout of {timeout:g}s") from None
        except _Escaped as escaped:
            error = escaped.error
        except Exception:
            raise
        except BaseException:
            # Something of the task's (a task it started itself) stopped the
            # loop with KeyboardInterrupt or SystemExit: the loop may hold
            # callbacks that would raise it again, so the next task gets a
            # new loop.
            self._discard_loop()
            raise
        # Raised outside the except clause, so that the task's exception is
        # not chained to the wrapper that carried it out of the loop.
        raise error

    def _discard_loop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None or loop.is_closed():
            return
        try:
            for pending in asyncio.all_tasks(loop):
                pending.cancel()
            loop.run_until_complete(asyncio.sleep(0))
        except BaseException:  # noqa: BLE001 - best effort: the loop is dropped anyway
            pass
        finally:
            loop.close()

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()


class _Escaped(Exception):
    """Carries a task's KeyboardInterrupt or SystemExit out of the event loop.

    asyncio re-raises those two out of ``run_until_complete`` from inside the
    task machinery, leaving the loop's tasks half finished; wrapped in an
    ordinary exception they end the task's coroutine like any failure.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


async def _contained(coroutine: Coroutine[Any, Any, Any]) -> Any:
    try:
        return await coroutine
    except (KeyboardInterrupt, SystemExit) as exc:
        raise _Escaped(exc) from None
