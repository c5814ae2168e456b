"""What every rule of the contract kit stands on: making backends, the hooks a
backend's author fills in, and small helpers the rules share.

The rules themselves are in :mod:`symphra_django.testing.contract`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

import pytest

from symphra_django import messages
from symphra_django.backends.base import NotSupported, QueueBackend
from symphra_django.messages import TaskMessage
from symphra_django.testing.waiting import wait_until

T = TypeVar("T")

#: Task name of every message the kit stores; no such task needs to exist.
TASK_NAME = "symphra_contract.noop"


def message(**fields: Any) -> TaskMessage:
    """A message as ``Task.enqueue`` would build it, with ``fields`` changed."""
    fields.setdefault("name", TASK_NAME)
    return TaskMessage(**fields)


def delivery_limit(task: TaskMessage) -> int:
    """How many times ``task`` is handed out while its lease keeps expiring
    before it goes to the failed store: its runs (``max_attempts``) plus the
    fixed crash redeliveries, as :func:`symphra_django.messages.delivery_limit`
    computes for every backend.

    Every rule about delivery limits takes the number from here.
    """
    return messages.delivery_limit(task.max_attempts)


class ContractHarness:
    """Fixtures, hooks and helpers of :class:`BackendContractTests`.

    A backend's author overrides :meth:`make_backend` (or, when making a
    backend needs other fixtures, the :meth:`backend_maker` fixture) and,
    optionally, :meth:`store_raw_payload` and :meth:`store_forged_entry`. The class attributes tune how long
    the time-dependent rules wait.
    """

    #: Lease, in seconds, of the rules that let a lease run out. Short keeps
    #: the kit fast; raise it if your backend cannot keep leases this short.
    short_lease: ClassVar[float] = 0.5
    #: How far ahead, in seconds, the due-time rules schedule a task.
    short_delay: ClassVar[float] = 0.5
    #: The longest, in seconds, a rule waits for an expired lease to be
    #: noticed (a task back in the queue, or in the failed store).
    redelivery_timeout: ClassVar[float] = 10.0

    # -- hooks for the backend's author ------------------------------------------

    def make_backend(self, **options: Any) -> QueueBackend:
        """Return a new, not yet connected backend on this test's storage.

        ``options`` are backend options a rule needs (e.g. ``lease_seconds``
        or ``queue_name``); pass them to the backend's constructor. Calls
        made during one test must reach the *same* storage, as two processes
        on one server would: a rule checks that what one instance enqueued
        another one sees. Storage should start empty for every test (a fresh
        namespace, key prefix or database flush). A backend whose
        ``shared`` is False (it keeps tasks in one process) is made once per
        test and that instance stands for every "other" instance.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must override make_backend() or the backend_maker fixture"
        )

    def store_raw_payload(self, backend: QueueBackend, queue: str, raw: bytes) -> bytes | str | None:
        """Put ``raw`` into ``backend``'s storage as a task of ``queue``, due now,
        the way a foreign or broken producer would (bypassing ``enqueue``).
        Return what was stored (``raw``, or the text a storage that refuses
        invalid UTF-8 kept instead), so the rules can check that the failed
        store's reason is the decoder's own.

        The payload-safety rules use it to check that unreadable payloads end
        in the failed store with the reason instead of being guessed at or
        crashing a worker. Without an override those rules are skipped: a
        backend that holds Python objects, not payloads, cannot be fed bytes.
        """
        raise NotSupported(
            f"{type(self).__name__} does not override store_raw_payload(), "
            "so the kit cannot plant a raw payload in its storage"
        )

    def store_forged_entry(self, backend: QueueBackend, queue: str, task: TaskMessage) -> None:
        """Put ``task`` into ``backend``'s storage as a task of ``queue``, due
        now, with a payload that reads fine (``task.to_json()``) but with the
        backend's own bookkeeping for it forged or damaged, the way a program
        that does not know the backend's invariants would write it: a state
        value of the wrong shape, headers naming a lease or ledger row that
        does not exist, columns out of range.

        The hostile-input rules use it to check that such an entry is either
        handed out as its payload says or filed as failed with a reason,
        never silently dropped, and that it costs the tasks around it
        nothing. Without an override that rule is skipped (a backend that
        keeps no bookkeeping apart from the payload has nothing to forge).
        """
        raise NotSupported(
            f"{type(self).__name__} does not override store_forged_entry(), "
            "so the kit cannot forge an entry's bookkeeping in its storage"
        )

    # -- fixtures -------------------------------------------------------------------

    @pytest.fixture
    def backend_maker(self) -> Callable[..., QueueBackend]:
        """What makes the backends of a test; :meth:`make_backend` by default.

        Override this fixture instead when making a backend needs other
        fixtures (a database, a server, a temporary directory); it may yield
        and clean up afterwards, after the kit has disconnected every backend.
        """
        return self.make_backend

    @pytest.fixture
    def open_backend(
        self, backend_maker: Callable[..., QueueBackend]
    ) -> Iterator[Callable[..., QueueBackend]]:
        """A function returning a connected backend on this test's storage.

        Each call stands for another process; every backend opened is
        disconnected after the test.
        """
        opened: list[QueueBackend] = []
        first_options: dict[str, Any] = {}

        def open_backend(**options: Any) -> QueueBackend:
            if opened and not opened[0].shared:
                # One process's storage: the first instance is every instance.
                if options != first_options:
                    raise ValueError(
                        f"{type(opened[0]).__name__} is not shared, so a test makes it once; "
                        f"it was made with {first_options!r}, now asked for {options!r}"
                    )
                return opened[0]
            if not opened:
                first_options.update(options)
            backend = backend_maker(**options)
            backend.connect_sync()
            opened.append(backend)
            return backend

        yield open_backend
        for backend in reversed(opened):
            backend.disconnect_sync()

    @pytest.fixture
    def backend(self, open_backend: Callable[..., QueueBackend]) -> QueueBackend:
        """A connected backend with default options."""
        return open_backend()

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def take(
        backend: QueueBackend,
        max_items: int = 100,
        *,
        queue: str | None = None,
        lease_seconds: float | None = None,
    ) -> list[TaskMessage]:
        """Lease what is due now (everything, by default)."""
        return backend.dequeue_sync(max_items, queue=queue, lease_seconds=lease_seconds)

    @staticmethod
    def ids(tasks: list[TaskMessage]) -> list[str]:
        return [task.id for task in tasks]

    def wait_for_delivery(
        self, backend: QueueBackend, *, lease_seconds: float | None = None
    ) -> list[TaskMessage]:
        """Poll ``dequeue`` until it hands something out (a task falling due
        or coming back from an expired lease); return what it handed out."""
        return wait_until(
            lambda: self.take(backend, lease_seconds=lease_seconds),
            timeout=self.redelivery_timeout,
            message="a task to be handed out again",
        )

    @staticmethod
    def optional(method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call an optional backend method; skip the test if it is not supported.

        ``peek``, ``get_stats``, ``get_status``, ``get_task``,
        ``extend_lease`` and the failed store's ``list_failed``,
        ``retry_failed`` and ``delete_failed`` (and what the base class
        builds on them) are optional: a backend raising ``NotSupported`` for
        one skips only the checks that need it, with the reason.
        """
        try:
            return method(*args, **kwargs)
        except NotSupported as exc:
            pytest.skip(f"optional method not supported: {exc}")
