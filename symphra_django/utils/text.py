"""Bounding text that comes from storage or from task code before it is
logged or stored.

A task name, an argument or an error message can be any size (a queue may be
shared with other programs, and a task may raise an exception carrying a
whole document): copied whole, one of them makes a log line or a failed-store
row of megabytes. Everything the worker and the backends log or store about
a task goes through :func:`shorten` with one of the limits below.
"""

from __future__ import annotations

#: Task names, ids, queue names and other identifiers in log lines and reasons.
NAME_LIMIT = 200
#: Argument reprs in log lines.
ARGS_LIMIT = 500
#: Error texts (``"ValueError: …"``) in log lines and in the failed store.
ERROR_LIMIT = 1024
#: Tracebacks in the failed store and in Django task results.
TRACEBACK_LIMIT = 32 * 1024


def shorten(text: object, limit: int, *, keep_end: bool = False) -> str:
    """``text`` (``str()`` of it if it is not a str) cut to about ``limit``
    characters, stating the original size when it was cut:
    ``"aaaa… (10,485,760 chars)"``.

    ``keep_end`` keeps the beginning and the end and cuts the middle, for
    tracebacks, whose last line names the exception.
    """
    if not isinstance(text, str):
        text = str(text)
    if len(text) <= limit:
        return text
    note = f"({len(text):,} chars)"
    if keep_end:
        half = max(0, limit // 2)
        return f"{text[:half]}\n… {note} …\n{text[len(text) - half:]}"
    return f"{text[:limit]}… {note}"


def shorten_name(text: object) -> str:
    """A task name, id or queue name bounded for a log line or a reason."""
    return shorten(text, NAME_LIMIT)


def shorten_error(text: object) -> str:
    """An error text bounded for a log line or the failed store."""
    return shorten(text, ERROR_LIMIT)


def shorten_traceback(text: str) -> str:
    """A traceback bounded for the failed store (its beginning and its end)."""
    return shorten(text, TRACEBACK_LIMIT, keep_end=True)
