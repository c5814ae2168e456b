"""Known failures of the conformance run, marked where they are collected.

Each entry names a rule (by test class and test name, parametrization
included or not) that fails today for a reason being fixed elsewhere. The
mark is ``xfail(strict=True)``: once the fix lands the rule passes, the run
fails on the unexpected pass, and the entry must go.
"""

from __future__ import annotations

import pytest

#: (test class, test name or name prefix ending in "[") → reason.
KNOWN_FAILURES: dict[tuple[str, str], str] = {
    ("TestRedisBackend", "test_an_entry_with_forged_bookkeeping_is_run_or_filed_never_dropped"):
        "until redis13 lands: a malformed state value makes claim.lua fail (issue 13, item 4)",
    ("TestRabbitMQBackend", "test_an_entry_with_forged_bookkeeping_is_run_or_filed_never_dropped"):
        "until rabbit13 lands: forged x-symphra-* headers without a ledger row are dropped "
        "silently (issue 13, item 6)",
    ("TestRabbitMQBackend", "test_a_raw_entry_counts_in_the_queue_size_until_it_is_filed"):
        "until rabbit13 lands: raw messages in the work queue are not counted, so --burst "
        "exits while they wait (issue 13, item 6)",
}

#: Rules that fail on every backend (the kit's WorkerPool rules), by test name.
KNOWN_FAILURES_EVERYWHERE: dict[str, str] = {
    "test_a_task_raising_base_exception_fails_alone_and_the_worker_goes_on[":
        "until worker13 lands: a BaseException from a task ends its worker thread (issue 13, item 7)",
}


def _reason(item: pytest.Item) -> str | None:
    cls = item.cls.__name__ if item.cls is not None else ""
    for (owner, name), reason in KNOWN_FAILURES.items():
        if owner == cls and (item.name == name or (name.endswith("[") and item.name.startswith(name))):
            return reason
    for name, reason in KNOWN_FAILURES_EVERYWHERE.items():
        if item.name == name or (name.endswith("[") and item.name.startswith(name)):
            return reason
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        reason = _reason(item)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
