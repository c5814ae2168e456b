"""Hide passwords in connection URLs before they reach a log, error or page.

Django's error reports hide settings by key name, not passwords inside URLs,
so every URL shown anywhere goes through :func:`mask_url` first.
"""

from __future__ import annotations

import re

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
