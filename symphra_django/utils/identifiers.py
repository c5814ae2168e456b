"""Checks for identifiers that come from settings or callers.

Queue names, key prefixes and table names end up in Redis keys, AMQP names and
SQL. They are checked against one strict pattern instead of being escaped.
"""

from __future__ import annotations

import re
from typing import TypeGuard

IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}$")

#: The rule of IDENTIFIER_RE in words, for error messages.
IDENTIFIER_RULE = (
    "use 1-100 characters among letters, digits, '_', '.', ':' and '-', not starting with a punctuation mark"
)


def is_identifier(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and IDENTIFIER_RE.match(value) is not None


def validate_identifier(value: object, what: str) -> str:
    if not is_identifier(value):
        raise ValueError(f"invalid {what} {value!r}: {IDENTIFIER_RULE}")
    return value
