"""A JSON log formatter, standard library only.

Each record becomes one line of JSON with ``time``, ``level``, ``logger`` and
``message``, every ``extra`` field given to the logging call (the worker's
task lines carry ``task_id``, ``task_name``, ``queue``, ``attempt`` and
``duration``), and ``exception`` when there is one::

    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "symphra_django.logging.JSONFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {"symphra_django": {"handlers": ["console"], "level": "INFO"}},
    }

Any formatter that emits a record's extra attributes (python-json-logger,
structlog's ``ProcessorFormatter``) picks up the same fields.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

__all__ = ["JSONFormatter"]

#: Attributes every LogRecord has: anything else on a record came from ``extra``.
STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module docs).

    Values JSON cannot hold are written as their ``str()``.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
