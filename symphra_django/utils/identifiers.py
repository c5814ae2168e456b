"""Checks for identifiers that come from settings or callers.

Queue names, key prefixes and table names end up in Redis keys, AMQP names and
SQL. They are checked against one strict pattern instead of being escaped.
"""

from __future__ import annotations

import re

IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}$")


def validate_identifier(value: object, what: str) -> str:
    if not isinstance(value, str) or not IDENTIFIER_RE.match(value):
        raise ValueError(
            f"invalid {what} {value!r}: use 1-100 characters among letters, "
            "digits, '_', '.', ':' and '-', not starting with a punctuation mark"
        )
    return value
