"""The Redis key layout of one queue, its ordering keys and the Lua scripts.

Every key of a queue shares the hash tag ``{prefix:queue}`` so that the
scripts, which touch several keys at once, also run on Redis Cluster:

=====================  ======  =================================================
key                    type    holds
=====================  ======  =================================================
``{p:q}:tasks``        hash    task id → JSON payload as enqueued
``{p:q}:state``        hash    task id → ``"attempts:limit:ordkey"``
``{p:q}:ready``        zset    ordkeys of due tasks, all score 0, byte order
``{p:q}:delayed``      zset    ordkeys of tasks not yet due, score = due time
``{p:q}:leases``       zset    ids of tasks in flight, score = lease deadline
``{p:q}:tokens``       hash    task id → token of its current lease
``{p:q}:seq``          string  counter giving enqueue order
``{p:q}:failed``       hash    task id → JSON record (payload, error, traceback,
                               attempts, failed_at, reason)
``{p:q}:failed_at``    zset    failed task ids, score = time of failure
``{p:q}:wake``         channel pub/sub (not a key): "a task is due now"
=====================  ======  =================================================

An *ordkey* is ``PPPPPPP`` (5,000,000 − priority) ``TTTTTTTTTTTTTTTTT``
(scheduled time in microseconds) ``SSSSSSSSSSSSSSSS`` (sequence) then the id,
so the byte order of ``ready`` is exactly priority desc, time, enqueue order
(C4) with no float rounding, while ``delayed`` is ordered by due time only
(C3: nothing is ready before it is due, whatever its priority).
"""

from __future__ import annotations

import math
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any

#: Key suffixes, in the order the scripts receive them as KEYS.
KEY_NAMES = ("tasks", "state", "ready", "delayed", "leases", "tokens", "seq", "failed", "failed_at")
SCRIPT_NAMES = ("enqueue", "claim", "ack", "reject", "extend", "inspect", "failed", "clear")

PRIORITY_OFFSET = 5_000_000
#: Most tasks one script call takes (BATCH in _common.lua): bounded script time.
SCRIPT_BATCH = 1000
#: Largest delivery count or limit the scripts store (MAX_COUNT_DIGITS in
#: _common.lua: Lua would print a larger one in exponent notation).
MAX_COUNT = 999_999_999
_MAX_MICROS = 10**17 - 1


# Cached: every script call needs them, and building nine strings was a
# measurable part of an enqueue's client time. A tuple, so no caller can
# change the cached keys.
@lru_cache(maxsize=1024)
def queue_keys(prefix: str, queue: str) -> tuple[str, ...]:
    """The keys of one queue, in KEYS order (both parts validated identifiers)."""
    tag = f"{{{prefix}:{queue}}}"
    return tuple(f"{tag}:{name}" for name in KEY_NAMES)


def key_pattern(prefix: str, name: str) -> str:
    """A SCAN pattern for key ``name`` of every queue under ``prefix``."""
    return f"{{{prefix}:*}}:{name}"


def queue_from_key(prefix: str, key: str) -> str:
    return key[len(prefix) + 2 : key.index("}")]


def order_head(priority: int, scheduled_time: float) -> str:
    """The priority and time part of an ordkey (the server appends seq and id)."""
    if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) >= PRIORITY_OFFSET:
        raise ValueError(
            f"priority must be an integer between {-PRIORITY_OFFSET + 1} and "
            f"{PRIORITY_OFFSET - 1}, got {priority!r}"
        )
    if not math.isfinite(scheduled_time):
        raise ValueError(f"scheduled time must be a finite number, got {scheduled_time!r}")
    micros = min(max(round(scheduled_time * 1_000_000), 0), _MAX_MICROS)
    return f"{PRIORITY_OFFSET - priority:07d}{micros:017d}"


#: The shared helper files in front of each script. Redis runs a script's
#: whole chunk on every call, defining each helper anew, so a script gets the
#: lease and delivery-state helpers (_delivery.lua) only if it uses them.
SCRIPT_PARTS = {
    name: ("_common", "_delivery") if name in {"claim", "reject", "extend", "inspect"} else ("_common",)
    for name in SCRIPT_NAMES
}


@cache
def script_source(name: str) -> str:
    """The Lua source of script ``name``, with the shared helpers it uses in front."""
    folder = files(__package__).joinpath("lua")
    parts = [folder.joinpath(f"{part}.lua").read_text(encoding="utf-8") for part in (*SCRIPT_PARTS[name], name)]
    return "\n".join(parts)


def register_scripts(client: Any) -> dict[str, Any]:
    """redis-py Script objects (EVALSHA, loading the script on NOSCRIPT)."""
    return {name: client.register_script(script_source(name)) for name in SCRIPT_NAMES}
