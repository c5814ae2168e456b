"""Finding and acting on failed tasks: the filters of the admin's failed page.

Part of the backend contract (``QueueBackend.find_failed``,
``retry_failed_where``, ``delete_failed_where``):

* :class:`FailedQuery` says which failed tasks are wanted (task name, error
  kind, failed-at range, text search); every field is optional and
  :meth:`FailedQuery.matches` is the one definition of what matches;
* :class:`FailedPage` is one page of matches, newest first, and how many match;
* :func:`error_kind` is the exception class (or kind of failure) an error
  text starts with: what the page's "exception" filter offers.

The functions at the end are what the base class does for a backend that
only lists its failed store (``list_failed``): read it newest first in
chunks of :data:`SCAN_CHUNK` and filter here. A backend that can filter
in its storage (the database backend, in SQL) overrides the contract
methods instead; the results are the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from symphra_django.backends.base import NotSupported
from symphra_django.messages import IN_FLIGHT

if TYPE_CHECKING:
    from symphra_django.backends.base import QueueBackend
    from symphra_django.messages import TaskMessage

#: Failed tasks read per call of ``list_failed`` when a store is scanned.
SCAN_CHUNK = 500
#: Seconds of clock skew tolerated between the hosts that failed tasks when
#: a scan stops early at the start of a failed-at range.
CLOCK_SKEW = 60.0

#: Kinds of failure that are not an exception raised by the task, as the
#: error texts of the failed store start: a lease that kept expiring
#: (``backends.base.lease_expired_error``), a payload nobody can read
#: (``QueueBackend.fail_unreadable``), a task name no code declares (the worker).
FAILURE_KINDS = ("lease expired", "corrupt payload", "unknown task")

_EXCEPTION = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)(?::|$)")


def error_kind(error: str | None) -> str | None:
    """What kind of failure an error text records: the exception class of
    ``"ValueError: bad input"`` (``"ValueError"``), one of
    :data:`FAILURE_KINDS`, or None (no error, or free text)."""
    if not isinstance(error, str) or not error:
        return None
    for kind in FAILURE_KINDS:
        if error.startswith(kind):
            return kind
    found = _EXCEPTION.match(error)
    return found.group(1) if found else None


@dataclass(frozen=True)
class FailedQuery:
    """Which failed tasks to find; a task matches when it passes every field
    that is set (an empty query matches every failed task)."""

    #: The exact task name.
    task_name: str | None = None
    #: What :func:`error_kind` gives for the task's error.
    error_kind: str | None = None
    #: Failed at or after (epoch seconds).
    failed_since: float | None = None
    #: Failed before (epoch seconds).
    failed_until: float | None = None
    #: Text found, ignoring case, in the task id, its name or its error.
    search: str | None = None

    @property
    def is_empty(self) -> bool:
        return all(value in (None, "") for value in
                   (self.task_name, self.error_kind, self.failed_since, self.failed_until, self.search))

    def matches(self, task: TaskMessage) -> bool:
        if self.task_name and task.name != self.task_name:
            return False
        if self.error_kind and error_kind(task.error) != self.error_kind:
            return False
        if self.failed_since is not None or self.failed_until is not None:
            failed_at = task.failed_at
            if failed_at is None:
                return False
            if self.failed_since is not None and failed_at < self.failed_since:
                return False
            if self.failed_until is not None and failed_at >= self.failed_until:
                return False
        if self.search:
            wanted = self.search.lower()
            texts = (task.id, task.name, task.error or "")
            if not any(isinstance(text, str) and wanted in text.lower() for text in texts):
                return False
        return True

    def older_than_range(self, task: TaskMessage) -> bool:
        """Whether ``task`` failed well before ``failed_since``: in a store
        read newest first, every task after it is older still."""
        failed_at = task.failed_at
        return (
            self.failed_since is not None and failed_at is not None
            and failed_at < self.failed_since - CLOCK_SKEW
        )

    def kind_prefixes(self) -> tuple[str, ...]:
        """Error texts of ``error_kind`` start with one of these (or equal
        the kind): for stores that filter by prefix (SQL ``LIKE``)."""
        kind = self.error_kind or ""
        return (kind,) if kind in FAILURE_KINDS else (f"{kind}:",)


@dataclass
class FailedPage:
    """A page of failed tasks, newest first, and how many match in all."""

    tasks: list[TaskMessage] = field(default_factory=list)
    total: int = 0


# -- what the base class does with ``list_failed`` alone --------------------------------


Reader = Callable[[int, int], "list[TaskMessage]"]


def iter_failed(read: Reader, query: FailedQuery) -> Iterator[TaskMessage]:
    """The tasks ``read(offset, limit)`` lists, newest first, that match
    ``query``: chunk by chunk, stopping early past the failed-at range."""
    offset = 0
    while True:
        chunk = read(offset, SCAN_CHUNK)
        offset += len(chunk)
        for task in chunk:
            if query.matches(task):
                yield task
            elif query.older_than_range(task):
                return
        if len(chunk) < SCAN_CHUNK:
            return


def scan_failed(read: Reader, query: FailedQuery, limit: int, offset: int) -> FailedPage:
    """One page of the matches of a scan, and their count; holds at most one
    chunk and the page in memory, whatever the size of the store."""
    page = FailedPage()
    for task in iter_failed(read, query):
        if offset <= page.total < offset + limit:
            page.tasks.append(task)
        page.total += 1
    return page


def _reader(backend: QueueBackend, queue: str | None) -> Reader:
    return lambda offset, limit: backend.list_failed_sync(queue, limit, offset)


def find_failed_by_listing(
    backend: QueueBackend, queue: str | None = None, query: FailedQuery | None = None,
    limit: int = 100, offset: int = 0,
) -> FailedPage:
    """``find_failed`` for a backend that only lists its failed store.

    Without a filter, one ``list_failed`` call gives the page and the
    failed count of ``get_stats`` the total; with one, the store is scanned.
    """
    query = query or FailedQuery()
    if query.is_empty:
        try:
            total = backend.get_stats_sync(queue).failed
        except NotSupported:
            pass
        else:
            return FailedPage(backend.list_failed_sync(queue, limit, offset) if limit > 0 else [], total)
    return scan_failed(_reader(backend, queue), query, limit, offset)


Action = Callable[[list[str], "str | None"], int]


def act_in_chunks(ids: list[str], action: Action, queue: str | None) -> int:
    """``action(ids, queue)`` (``retry_failed``, ``delete_failed``) on at most
    :data:`SCAN_CHUNK` ids at a time; the sum of its answers."""
    return sum(action(ids[start : start + SCAN_CHUNK], queue) for start in range(0, len(ids), SCAN_CHUNK))


def _act_on_matches(backend: QueueBackend, queue: str | None, query: FailedQuery | None, action: Action) -> int:
    # Every id first, then the action: acting while listing would move the
    # offsets of the listing under it.
    ids = [task.id for task in iter_failed(_reader(backend, queue), query or FailedQuery())]
    return act_in_chunks(ids, action, queue)


def retry_failed_by_listing(backend: QueueBackend, queue: str | None = None,
                            query: FailedQuery | None = None) -> int:
    """``retry_failed_where``: ``retry_failed`` on the ids a scan finds."""
    return _act_on_matches(backend, queue, query, backend.retry_failed_sync)


def delete_failed_by_listing(backend: QueueBackend, queue: str | None = None,
                             query: FailedQuery | None = None) -> int:
    """``delete_failed_where``: ``delete_failed`` on the ids a scan finds."""
    return _act_on_matches(backend, queue, query, backend.delete_failed_sync)


def find_task_by_listing(backend: QueueBackend, task_id: str, queue: str | None = None) -> TaskMessage | None:
    """``get_task`` for a backend without it: the next waiting tasks
    (``peek``, the first :data:`SCAN_CHUNK`), then the failed store.

    NotSupported when the task may be where neither shows it: in flight, or
    waiting on a backend without ``peek``.
    """
    peeked = True
    try:
        for task in backend.peek_sync(queue, SCAN_CHUNK):
            if task.id == task_id:
                return task
    except NotSupported:
        peeked = False
    for task in iter_failed(_reader(backend, queue), FailedQuery(search=task_id)):
        if task.id == task_id:
            return task
    try:
        state = backend.get_status_sync(task_id, queue)
    except NotSupported:
        if peeked:
            return None  # neither waiting nor failed, as far as it can tell
        state = "unknown"
    if state is None:
        return None
    if state == IN_FLIGHT:
        why = "a task in flight"
    elif peeked:
        why = f"a task waiting behind the first {SCAN_CHUNK}"
    else:
        why = "a waiting task (it has no peek())"
    raise NotSupported(f"{type(backend).__name__} cannot show {why}; get_task() would")
