"""Hide passwords in connection URLs before they reach a log, error or page.

Django's error reports hide settings by key name, not passwords inside URLs,
so every URL shown anywhere goes through :func:`mask_url` first, and the
strings of the ``SYMPHRA`` setting that hold a password print masked
(:func:`mask_secrets_in_place`, applied when the app is ready).
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# scheme://[user][:password]@host... ; the password ends at the last '@' of the
# authority, since a password may itself contain '@' or ':'.
_AUTHORITY_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<authority>[^/?#]*)(?P<rest>.*)$", re.S)
_QUERY_SECRET_RE = re.compile(r"(?i)([?&](?:password|passwd|pwd|secret|token)=)[^&#]*")


def mask_url(url: object) -> str:
    """``url`` with any password replaced by ``***`` (user names are kept)."""
    text = str(url)
    match = _AUTHORITY_RE.match(text)
    if match is None:
        return _QUERY_SECRET_RE.sub(rf"\g<1>{MASK}", text)
    authority = match["authority"]
    if "@" in authority:
        userinfo, _, hosts = authority.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        authority = f"{user}:{MASK}@{hosts}" if colon else f"{userinfo}@{hosts}"
        # "redis://secret@host" (a bare password in the user slot, as
        # redis-py accepts) must not leak either.
        if not colon and userinfo:
            authority = f"{MASK}@{hosts}"
    rest = _QUERY_SECRET_RE.sub(rf"\g<1>{MASK}", match["rest"])
    return f"{match['scheme']}{authority}{rest}"


_URL_IN_TEXT_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s,)'\"]+")


def mask_urls_in(text: object) -> str:
    """``text`` with every URL in it passed through :func:`mask_url`."""
    return _URL_IN_TEXT_RE.sub(lambda m: mask_url(m.group(0)), str(text))


# -- values of the SYMPHRA setting that print masked --------------------------

#: Option names whose value is a secret as a whole. Django hides settings by
#: key name with much the same pattern, but not the variables of a traceback.
SECRET_KEY_RE = re.compile(r"(?i)pass|pwd|secret|token|credential")


class MaskedStr(str):
    """A string that is itself wherever it is used (compared, parsed, sent to
    a server) but whose ``repr`` hides its password.

    Django's debug page and error reports print settings and a traceback's
    local variables with ``repr`` (through ``pprint``), and hide a setting only
    when its *key* looks secret (``PASS``, ``KEY``...), never a password inside
    a ``url``. Wrapping such values in place makes every repr of them masked,
    whichever dict or frame they are printed from.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(mask_url(str.__str__(self)))


class HiddenStr(MaskedStr):
    """A secret as a whole (a ``password`` option): its repr shows stars."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr("*" * 20)


def _masked(key: object, value: str) -> str:
    if isinstance(value, MaskedStr):
        return value
    if isinstance(key, str) and SECRET_KEY_RE.search(key) and value:
        return HiddenStr(value)
    if mask_urls_in(value) != value:
        return MaskedStr(value)
    return value


def mask_secrets_in_place(value: Any) -> None:
    """Wrap, inside the dicts and lists of ``value``, every string that holds a
    password (a URL with one, or the value of a secret-looking key) in a
    :class:`MaskedStr`. The strings stay equal to what they were; containers
    that cannot be changed (tuples, read-only mappings) are left as they are.
    """
    seen: set[int] = set()

    def walk(container: Any) -> None:
        if id(container) in seen:
            return
        seen.add(id(container))
        if isinstance(container, dict):
            items = list(container.items())
        elif isinstance(container, list):
            items = list(enumerate(container))
        else:
            return
        for key, item in items:
            if isinstance(item, str):
                masked = _masked(key, item)
                if masked is not item:
                    try:
                        container[key] = masked
                    except TypeError:
                        return  # read-only: nothing to do about it here
            else:
                walk(item)

    walk(value)
