"""Failed tasks of every backend alias and queue, as a Django change list.

One list, newest failure first, over the failed store of every alias and
queue (``QueueBackend.find_failed``), with what Django's change lists have:
a filter sidebar (backend, queue, task, exception, failed at), a search box
(task id, task name, error text), a paginator, and an action bar (retry,
delete) with "N of M selected" and "Select all M" to act on every task the
filters match, on every page (``retry_failed_where``/``delete_failed_where``).

Pages of the ``FailedTask`` permission holder: ``view_failedtask`` to see,
``change_failedtask`` to retry (re-enqueue now), ``delete_failedtask`` to
delete (after a confirmation page, as Django's delete action). A user
without either sees no checkboxes and no action bar. Actions are POST only.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from datetime import time as day_start
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import path, reverse
from django.utils import timezone

from symphra_django.admin.guard import OperationsAdmin, can, guarded, render
from symphra_django.admin.queues import resolve_queue, task_url
from symphra_django.backends import FailedPage, FailedQuery, QueueBackend, backends
from symphra_django.backends.base import NotSupported
from symphra_django.backends.failed_store import FAILURE_KINDS, error_kind
from symphra_django.messages import TaskMessage
from symphra_django.ops import status
from symphra_django.tasks.registry import registry

logger = logging.getLogger("symphra_django.admin")

#: Failed tasks per page.
PER_PAGE = 100
PAGE_VAR, SEARCH_VAR = "p", "q"
#: The failed-at choices of the sidebar: parameter value -> (label, seconds back).
PERIODS = {
    "1h": ("Last hour", 3600),
    "24h": ("Last 24 hours", 86400),
    "7d": ("Last 7 days", 7 * 86400),
    "30d": ("Last 30 days", 30 * 86400),
}
#: What an action may be; the permission each needs.
ACTIONS = {"retry": "change_failedtask", "delete": "delete_failedtask"}

#: What "now" is for the failed-at periods (tests move it).
clock: Callable[[], float] = time.time


# -- what the page shows: its query string -------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The page's filters and search, from its query string. A value that
    is not one the page offers (an unknown period, a date that is not one)
    is dropped, as Django's change list drops an unknown lookup."""

    alias: str | None = None
    queue: str | None = None
    task: str | None = None
    error: str | None = None
    failed: str | None = None
    failed_from: str | None = None
    failed_to: str | None = None
    q: str | None = None

    @classmethod
    def from_params(cls, params: QueryDict) -> Filters:
        values: dict[str, str | None] = {f.name: (params.get(f.name) or "").strip() or None for f in fields(cls)}
        if values["failed"] not in PERIODS:
            values["failed"] = None
        for name in ("failed_from", "failed_to"):
            text = values[name]
            if text is not None and _day(text) is None:
                values[name] = None
        return cls(**values)

    def params(self, **changes: str | None) -> dict[str, str]:
        """The non-empty parameters, with ``changes`` applied."""
        merged = {f.name: getattr(self, f.name) for f in fields(self)} | changes
        return {key: value for key, value in merged.items() if value}

    def url(self, **changes: str | None) -> str:
        """This page's query string with ``changes`` (the page number reset)."""
        return "?" + urlencode(self.params(**changes))

    @property
    def active(self) -> bool:
        """Whether a sidebar filter is set (the search is not one)."""
        return bool(self.params(q=None))

    @property
    def one_queue(self) -> bool:
        return bool(self.alias and self.queue)

    def describe(self) -> str:
        """The filters in words, for the delete confirmation."""
        labels = {"alias": "backend", "error": "exception", "failed": "failed", "failed_from": "failed from",
                  "failed_to": "failed until", "q": "search"}
        shown = {key: PERIODS[value][0].lower() if key == "failed" else value for key, value in self.params().items()}
        return ", ".join(f"{labels.get(key, key)} {value}" for key, value in shown.items()) or "no filter"

    def query(self, now: float) -> FailedQuery:
        since = until = None
        if self.failed:
            since = now - PERIODS[self.failed][1]
        if self.failed_from:
            start = _day_start(self.failed_from)
            since = start if since is None else max(since, start)
        if self.failed_to:
            until = _day_start(self.failed_to, days=1)
        return FailedQuery(task_name=self.task, error_kind=self.error, failed_since=since,
                           failed_until=until, search=self.q)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _day_start(text: str, days: int = 0) -> float:
    """Epoch seconds of the start of day ``text`` (plus ``days``) in the
    current time zone: the dates of the sidebar are the operator's days."""
    day = _day(text)
    assert day is not None  # Filters keeps valid dates only
    start = datetime.combine(day + timedelta(days=days), day_start.min)
    return timezone.make_aware(start, timezone.get_current_timezone()).timestamp()


# -- reading the failed stores -----------------------------------------------------------------


@dataclass
class Row:
    """One failed task on the page."""

    alias: str
    queue: str
    task: TaskMessage

    @property
    def kind(self) -> str | None:
        return error_kind(self.task.error)

    @property
    def selection(self) -> str:
        """The value of its checkbox: which task of which store."""
        return json.dumps([self.alias, self.queue, self.task.id])


@dataclass
class AliasListing:
    pages: list[tuple[str, FailedPage]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Queues holding failed tasks, as their stats say.
    queues: set[str] = field(default_factory=set)
    #: Failed tasks in every queue of the aliases read, whatever the other
    #: filters (None: a backend gives no failed count).
    unfiltered: int | None = 0


@dataclass
class Listing:
    rows: list[Row] = field(default_factory=list)
    total: int = 0
    unfiltered: int | None = 0
    notes: list[str] = field(default_factory=list)
    queues: set[str] = field(default_factory=set)


def read_failed(filters: Filters, page: int = 1, per_page: int = PER_PAGE, timeout: float | None = None) -> Listing:
    """One page of the failed tasks the filters match, newest first, and
    their count, over every alias and queue they allow.

    Each alias is read in its own thread under one deadline for all
    (``status.gather_per_alias``). With one alias and queue chosen, the
    backend returns the page itself (``offset``); across several queues,
    each returns its first ``page * per_page`` matches, and the page is cut
    from their merge.
    """
    query = filters.query(clock())
    offset = (page - 1) * per_page
    limit, start = (per_page, offset) if filters.one_queue else (offset + per_page, 0)
    aliases = backends.aliases()
    if filters.alias is not None:
        aliases = [filters.alias] if filters.alias in aliases else []
    built = {name: status.new_status(name) for name in aliases}

    def work(name: str, progress: status.Progress) -> AliasListing:
        backend, backend_status = built[name]
        listing = AliasListing()
        if backend is not None:
            status.gather_status(backend, backend_status, progress)
        if backend is None or not backend_status.healthy:
            listing.notes.append(f"{name}: {backend_status.problem}")
            listing.unfiltered = None
            return listing
        for queue_status in backend_status.queues:
            counted = queue_status.stats is not None and queue_status.problem is None
            if not counted or listing.unfiltered is None:
                listing.unfiltered = None
            else:
                listing.unfiltered += queue_status.stats.failed  # type: ignore[union-attr]
            if counted and not queue_status.stats.failed:  # type: ignore[union-attr]
                continue  # nothing failed here: no need to ask
            listing.queues.add(queue_status.queue)
            if filters.queue and queue_status.queue != filters.queue:
                continue
            progress.step = f"reading the failed tasks of {queue_status.queue}"
            try:
                found = backend.find_failed_sync(queue_status.queue, query, limit, start)
            except NotSupported as exc:
                listing.notes.append(f"{queue_status.queue} ({name}): "
                                     f"{exc or 'this backend has no failed store to list'}")
            except Exception as exc:  # noqa: BLE001 - shown on the page
                listing.notes.append(f"{queue_status.queue} ({name}): {status.problem_text(exc)}")
            else:
                listing.pages.append((queue_status.queue, found))
        return listing

    gathered = status.gather_per_alias(work, aliases, status.CONNECT_TIMEOUT if timeout is None else timeout,
                                       name="symphra-failed")
    listing = Listing()
    for name in aliases:
        outcome = gathered[name]
        if isinstance(outcome, status.TimedOut):
            listing.notes.append(f"{name}: {outcome}")
            listing.unfiltered = None
            continue
        if isinstance(outcome, Exception):
            listing.notes.append(f"{name}: {status.problem_text(outcome)}")
            listing.unfiltered = None
            continue
        listing.notes += outcome.notes
        listing.queues |= outcome.queues
        listing.unfiltered = (None if listing.unfiltered is None or outcome.unfiltered is None
                              else listing.unfiltered + outcome.unfiltered)
        for queue, found in outcome.pages:
            listing.total += found.total
            listing.rows += [Row(name, queue, task) for task in found.tasks]
    if not filters.one_queue:
        listing.rows.sort(key=lambda row: -(row.task.failed_at or -math.inf))
        listing.rows = listing.rows[offset : offset + per_page]
    return listing


# -- the selection an action acts on ---------------------------------------------------------


def selected_ids(request: HttpRequest) -> dict[tuple[str, str], list[str]]:
    """The ticked tasks, by (alias, queue). A value that is not one the page
    wrote is ignored."""
    chosen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for raw in request.POST.getlist("_selected_action"):
        try:
            alias, queue, task_id = json.loads(raw)
        except (ValueError, TypeError):
            continue
        if all(isinstance(part, str) for part in (alias, queue, task_id)):
            chosen[(alias, queue)].append(task_id)
    return dict(chosen)


def _queues_of(filters: Filters) -> list[tuple[str, QueueBackend | None, list[str], str | None]]:
    """(alias, backend, its queues the filters allow, problem) of every alias
    the filters allow: what a "select all" action goes through."""
    out: list[tuple[str, QueueBackend | None, list[str], str | None]] = []
    for alias in backends.aliases():
        if filters.alias and alias != filters.alias:
            continue
        try:
            backend = status.backend_for(alias)
            names = status.queue_names(backend)
        except Exception as exc:  # noqa: BLE001 - reported to the operator
            out.append((alias, None, [], status.problem_text(exc)))
            continue
        out.append((alias, backend, [q for q in names if not filters.queue or q == filters.queue], None))
    return out


class FailedTaskAdmin(OperationsAdmin):
    def operation_urls(self) -> list:
        return [
            path("", guarded(self, self.changelist, "view_failedtask"), name="symphra_django_failedtask_changelist"),
            path("retry/", guarded(self, self.retry_view, "change_failedtask", mutates=True),
                 name="symphra_django_failedtask_retry"),
            path("delete/", guarded(self, self.delete_view, "delete_failedtask", mutates=True),
                 name="symphra_django_failedtask_delete"),
        ]

    def changelist(self, request: HttpRequest) -> HttpResponse:
        """GET: the list. POST: the action bar's action, as Django's change
        list does it (retry at once; delete after a confirmation page)."""
        if request.method == "POST":
            return self.action(request)
        filters = Filters.from_params(request.GET)
        page = _page_number(request.GET.get(PAGE_VAR))
        listing = read_failed(filters, page)
        paginator = Paginator(range(listing.total), PER_PAGE)
        if page > paginator.num_pages:  # past the end (tasks went meanwhile): the last page
            page = paginator.num_pages
            listing = read_failed(filters, page)
        can_retry, can_delete = can(request, "change_failedtask"), can(request, "delete_failedtask")
        can_view_queue = can(request, "view_queue")
        rows = [
            {
                "row": row,
                "url": task_url(row.alias, row.queue, row.task.id) if can_view_queue else None,
                "by_task": filters.url(task=row.task.name),
                "by_kind": filters.url(error=row.kind) if row.kind else None,
                "by_queue": filters.url(alias=row.alias, queue=row.queue),
            }
            for row in listing.rows
        ]
        return render(
            self, request, "failed.html", "Failed tasks",
            filters=filters, listing=listing, rows=rows, sidebar=self.sidebar(filters, listing),
            page_number=page, per_page=PER_PAGE, page_range=_page_links(paginator, page, filters),
            multi_page=paginator.num_pages > 1,
            can_retry=can_retry, can_delete=can_delete, has_actions=can_retry or can_delete,
            search_var=SEARCH_VAR, search_hidden=filters.params(q=None).items(),
        )

    def sidebar(self, filters: Filters, listing: Listing) -> list[dict[str, Any]]:
        """The filters of the sidebar, each a title and its choices, the way
        Django's ``admin/filter.html`` shows them."""

        def choices(name: str, values: list[tuple[str, str]], all_label: str = "All") -> list[dict[str, Any]]:
            current = getattr(filters, name)
            return [{"display": all_label, "selected": current is None, "query_string": filters.url(**{name: None})}] + [
                {"display": label, "selected": current == value, "query_string": filters.url(**{name: value})}
                for value, label in values
            ]

        def known(*groups: Iterable[str | None]) -> list[tuple[str, str]]:
            values = sorted({value for group in groups for value in group if value})
            return [(value, value) for value in values]

        page_names = {row.task.name for row in listing.rows}
        page_kinds = {row.kind for row in listing.rows}
        return [
            {"title": "backend", "choices": choices("alias", [(a, a) for a in backends.aliases()])},
            {"title": "queue", "choices": choices("queue", known(listing.queues, {filters.queue}))},
            {"title": "task", "choices": choices("task", known({t.name for t in registry}, page_names,
                                                                  {filters.task}))},
            {"title": "exception", "choices": choices("error", known(set(FAILURE_KINDS), page_kinds,
                                                                       {filters.error}))},
            {"title": "failed at", "choices": choices("failed", [(k, label) for k, (label, _) in PERIODS.items()],
                                                      all_label="Any time"),
             "range": True},
        ]

    # -- actions ------------------------------------------------------------------------

    def action(self, request: HttpRequest) -> HttpResponse:
        verb = request.POST.get("action", "")
        if verb not in ACTIONS:
            messages.warning(request, "No action selected.")
            return self.back(request)
        if not can(request, ACTIONS[verb]):
            raise PermissionDenied
        if verb == "retry":
            return self.act(request, "retried")
        return self.confirm_delete(request)

    def confirm_delete(self, request: HttpRequest) -> HttpResponse:
        """Django's "Are you sure?" page: what will be deleted, and a button
        that posts the same selection to the delete URL."""
        filters = Filters.from_params(request.GET)
        across = request.POST.get("select_across") == "1"
        chosen = selected_ids(request)
        if not across and not chosen:
            messages.warning(request, "No failed task selected: nothing was changed.")
            return self.back(request)
        count = read_failed(filters, per_page=0).total if across else sum(map(len, chosen.values()))
        return render(
            self, request, "failed_delete_confirm.html", "Are you sure?",
            filters=filters, across=across, count=count, chosen=sorted(chosen.items()),
            selections=request.POST.getlist("_selected_action"),
            action_url=reverse("admin:symphra_django_failedtask_delete") + filters.url(),
        )

    def act(self, request: HttpRequest, verb: str) -> HttpResponse:
        filters = Filters.from_params(request.GET)
        if request.POST.get("select_across") == "1":
            self.act_on_matches(request, verb, filters)
            return self.back(request)
        chosen = selected_ids(request)
        if not chosen:
            messages.warning(request, "No failed task selected: nothing was changed.")
            return self.back(request)
        for (alias, queue), ids in sorted(chosen.items()):
            try:
                # Only a queue the backend shows: a posted name never reaches the broker unchecked.
                backend = resolve_queue(alias, queue)
                action = backend.retry_failed_sync if verb == "retried" else backend.delete_failed_sync
                count = action(ids, queue)
            except Exception as exc:  # noqa: BLE001 - the operator sees why
                messages.error(request, f"Failed tasks of {queue} ({alias}) not {verb}: {status.problem_text(exc)}")
            else:
                self.done(request, verb, count, alias, queue)
        return self.back(request)

    def act_on_matches(self, request: HttpRequest, verb: str, filters: Filters) -> None:
        """Every failed task the filters match, in every queue they allow."""
        query = filters.query(clock())
        for alias, backend, queues, problem in _queues_of(filters):
            if backend is None:
                messages.error(request, f"Failed tasks of {alias} not {verb}: {problem}")
                continue
            for queue in queues:
                try:
                    action = backend.retry_failed_where_sync if verb == "retried" else backend.delete_failed_where_sync
                    count = action(queue, query)
                except Exception as exc:  # noqa: BLE001 - the operator sees why
                    messages.error(request, f"Failed tasks of {queue} ({alias}) not {verb}: "
                                            f"{status.problem_text(exc)}")
                else:
                    if count:
                        self.done(request, verb, count, alias, queue)

    def done(self, request: HttpRequest, verb: str, count: int, alias: str, queue: str) -> None:
        logger.info("%s %s %d failed task(s) of %s/%s", request.user, verb, count, alias, queue)
        messages.success(request, f"{count:,} failed task(s) of {queue} ({alias}) {verb}.")

    def back(self, request: HttpRequest) -> HttpResponse:
        """The list again, with the filters the action came from."""
        query = request.GET.urlencode()
        return HttpResponseRedirect(reverse("admin:symphra_django_failedtask_changelist") + (f"?{query}" if query else ""))

    def retry_view(self, request: HttpRequest) -> HttpResponse:
        return self.act(request, "retried")

    def delete_view(self, request: HttpRequest) -> HttpResponse:
        return self.act(request, "deleted")


def _page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or 1))
    except ValueError:
        return 1


def _page_links(paginator: Paginator, page: int, filters: Filters) -> list[tuple[str, str | None]]:
    """(label, url) of the paginator's links, Django's elided range; url is
    None for the current page and the ellipses."""
    links: list[tuple[str, str | None]] = []
    for number in paginator.get_elided_page_range(page, on_each_side=3, on_ends=2):
        if number == paginator.ELLIPSIS or number == page:
            links.append((str(number), None))
        else:
            links.append((str(number), "?" + urlencode(filters.params() | {PAGE_VAR: str(number)})))
    return links

