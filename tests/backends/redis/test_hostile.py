"""Malformed data written straight into a Redis queue's keys, as another program might.

Each bad entry must end in the failed store with a short reason (or, if it
names no task, be removed with a log line saying why) while the normal tasks
around it are claimed and run, and no task may be left outside every index:
the scripts check what they read before they write anything.
"""

from __future__ import annotations

import json
import logging
import math
import time

import pytest
import redis

from symphra_django.backends.redis.keys import order_head
from symphra_django.messages import TaskMessage
from tests.conformance.factory_redis import RedisFactory
from tests.support.services import require

ORDKEY_DIGITS = 40
NORMAL = [f"normal-{i:02d}" for i in range(20)]


@pytest.fixture
def factory():
    require("redis")
    made = RedisFactory()
    yield made
    made.teardown()


@pytest.fixture
def backend(factory):
    return factory.make()


@pytest.fixture
def raw(factory):
    client = factory.raw_client()
    yield client
    client.close()


def key(factory, name: str) -> str:
    return factory.queue_key("default", name)


def census(factory, raw) -> dict[str, int]:
    """How many members every key of the queue holds."""
    counts = {}
    for name in ("tasks", "state", "tokens", "failed"):
        counts[name] = raw.hlen(key(factory, name))
    for name in ("ready", "delayed", "leases", "failed_at"):
        counts[name] = raw.zcard(key(factory, name))
    return counts


def census_without_tokens(factory, raw) -> dict[str, int]:
    return {
        "tasks": raw.hlen(key(factory, "tasks")),
        "state": raw.hlen(key(factory, "state")),
        "ready": raw.zcard(key(factory, "ready")),
    }


def stranded(factory, raw) -> set[str]:
    """Ids with a payload or a delivery state that no index files: lost tasks."""
    stored = {k.decode("utf-8", "replace") for k in raw.hkeys(key(factory, "tasks"))}
    stored |= {k.decode("utf-8", "replace") for k in raw.hkeys(key(factory, "state"))}
    indexed = {m.decode("utf-8", "replace") for m in raw.zrange(key(factory, "leases"), 0, -1)}
    for name in ("ready", "delayed"):
        indexed |= {
            m[ORDKEY_DIGITS:].decode("utf-8", "replace") for m in raw.zrange(key(factory, name), 0, -1)
        }
    return stored - indexed


def enqueue_around(backend, bad: TaskMessage | None = None) -> None:
    """Ten normal tasks, the bad one (if any), ten more: all due now, in that order."""
    base = time.time() - 60
    for i, task_id in enumerate(NORMAL[:10]):
        backend.enqueue_sync(TaskMessage(name="t", id=task_id), base + i)
    if bad is not None:
        backend.enqueue_sync(bad, base + 10)
    for i, task_id in enumerate(NORMAL[10:]):
        backend.enqueue_sync(TaskMessage(name="t", id=task_id), base + 11 + i)


def ordkey_of(raw, factory, task_id: str) -> bytes:
    state = raw.hget(key(factory, "state"), task_id)
    return state.split(b":", 2)[2]


def run_all(backend) -> list[str]:
    """Claim and run (acknowledge) everything the queue hands out."""
    ran = []
    while batch := backend.dequeue_sync(32):
        ran += [task.id for task in batch]
        assert backend.acknowledge_many_sync(batch) == len(batch)
    return ran


def assert_nothing_left_but_failures(factory, raw, backend, failed: int) -> None:
    assert stranded(factory, raw) == set()
    counts = census(factory, raw)
    assert counts == {
        "tasks": 0, "state": 0, "tokens": 0, "ready": 0, "delayed": 0, "leases": 0,
        "failed": failed, "failed_at": failed,
    }
    stats = backend.get_stats_sync()
    assert (stats.ready, stats.delayed, stats.in_flight, stats.failed) == (0, 0, 0, failed)
    assert backend.get_queue_size_sync() == 0


# -- a bad per-task entry among twenty normal tasks ------------------------------------

def _state(value: bytes):
    def plant(factory, raw, task_id):
        factory.write_raw_state("default", task_id, value)
    return plant


def _state_with_own_ordkey(template: bytes):
    def plant(factory, raw, task_id):
        factory.write_raw_state("default", task_id, template.replace(b"ORD", ordkey_of(raw, factory, task_id)))
    return plant


def _no_state(factory, raw, task_id):
    factory.write_raw_state("default", task_id, None)


def _no_payload(factory, raw, task_id):
    raw.hdel(key(factory, "tasks"), task_id)


def _payload(value: bytes):
    def plant(factory, raw, task_id):
        raw.hset(key(factory, "tasks"), task_id, value)
    return plant


def _another_tasks_ordkey(factory, raw, task_id):
    factory.write_raw_state("default", task_id, b"0:3:" + ordkey_of(raw, factory, NORMAL[0]))


BAD_STATES = {
    "state that is not attempts:limit:ordkey": (_state(b"garbage"), "delivery state is not"),
    "state that is JSON": (_state(b'{"attempts": 1}'), "delivery state is not"),
    "state with non-numeric attempts": (_state_with_own_ordkey(b"x:3:ORD"), "delivery state is not"),
    "state with a huge count": (_state_with_own_ordkey(b"9" * 40 + b":3:ORD"), "more than 9 digits"),
    "state of a megabyte": (_state(b"1:3:" + b"7" * 1_000_000), "no ordering key of this task"),
    "state naming another task's ordkey": (_another_tasks_ordkey, "no ordering key of this task"),
    "ready member with no state": (_no_state, "no delivery state stored"),
    "ready member with no payload": (_no_payload, "no payload stored"),
    "payload that is not UTF-8": (_payload(b'{"v": 1, "name": "\xff\xfe"}'), "not UTF-8"),
    "payload nested 100000 deep": (_payload(b"[" * 100_000 + b"]" * 100_000), "nested too deeply"),
    "payload of 5 MB": (_payload(b"{" + b" " * 5_000_000), "not valid JSON"),
    "payload with priority 10**7": (
        _payload(json.dumps({**TaskMessage(name="t", id="bad").to_dict(), "priority": 10**7}).encode()),
        "'priority' is outside",
    ),
}


@pytest.mark.parametrize("plant, reason", BAD_STATES.values(), ids=BAD_STATES.keys())
def test_a_malformed_entry_goes_to_the_failed_store_alone(factory, backend, raw, plant, reason, caplog):
    enqueue_around(backend, TaskMessage(name="t", id="bad"))
    plant(factory, raw, "bad")
    assert backend.get_queue_size_sync() == 21

    with caplog.at_level(logging.ERROR, logger="symphra_django"):
        ran = run_all(backend)

    assert sorted(ran) == NORMAL
    [failed] = backend.list_failed_sync()
    assert failed.id == "bad"
    assert reason in failed.error
    assert len(failed.error) < 1000
    assert any("'bad'" in r.getMessage() and "failed store" in r.getMessage() for r in caplog.records)
    assert max(len(r.getMessage()) for r in caplog.records) < 2000
    assert_nothing_left_but_failures(factory, raw, backend, failed=1)


def test_a_malformed_entry_first_in_the_batch_does_not_strand_the_rest(factory, backend, raw):
    backend.enqueue_sync(TaskMessage(name="t", id="bad"), time.time() - 3600)
    enqueue_around(backend)
    factory.write_raw_state("default", "bad", b"not-a-state")
    assert sorted(run_all(backend)) == NORMAL
    assert [t.id for t in backend.list_failed_sync()] == ["bad"]
    assert_nothing_left_but_failures(factory, raw, backend, failed=1)


REMOVED = {
    "ready member naming a task that does not exist": b"5000000" + b"0" * 33 + b"ghost",
    "ready member that is not an ordering key": b"not-an-ordering-key",
    "ready member of digits only": b"1" * ORDKEY_DIGITS,
}


@pytest.mark.parametrize("member", REMOVED.values(), ids=REMOVED.keys())
def test_an_index_member_naming_no_task_is_removed_with_a_log_line(factory, backend, raw, member, caplog):
    enqueue_around(backend)
    raw.zadd(key(factory, "ready"), {member: 0})
    expected = member.decode()
    if expected.startswith("5000000"):
        # A task id with no payload and no state still gets a failed-store
        # entry (an empty one), so that it can be seen and deleted.
        with caplog.at_level(logging.ERROR, logger="symphra_django"):
            assert sorted(run_all(backend)) == NORMAL
        [failed] = backend.list_failed_sync()
        assert failed.id == "ghost" and "no delivery state stored" in failed.error
        assert_nothing_left_but_failures(factory, raw, backend, failed=1)
        return
    with caplog.at_level(logging.ERROR, logger="symphra_django"):
        assert sorted(run_all(backend)) == NORMAL
    [line] = [r.getMessage() for r in caplog.records if "removed" in r.getMessage()]
    assert expected[:40] in line and "not an ordering key" in line
    assert backend.list_failed_sync() == []
    assert_nothing_left_but_failures(factory, raw, backend, failed=0)


def test_a_second_ready_member_of_one_task_hands_it_out_once(factory, backend, raw, caplog):
    enqueue_around(backend, TaskMessage(name="t", id="twice"))
    ordkey = ordkey_of(raw, factory, "twice")
    raw.zadd(key(factory, "ready"), {b"4" + ordkey[1:]: 0})  # a higher priority, same task
    with caplog.at_level(logging.ERROR, logger="symphra_django"):
        ran = run_all(backend)
    assert sorted(ran) == sorted([*NORMAL, "twice"])
    assert any("second ready index member" in r.getMessage() for r in caplog.records)
    assert_nothing_left_but_failures(factory, raw, backend, failed=0)


def test_a_ready_member_of_a_task_in_flight_is_removed_not_handed_out_again(factory, backend, raw, caplog):
    backend.enqueue_sync(TaskMessage(name="t", id="held"))
    [held] = backend.dequeue_sync(1, lease_seconds=300)
    ordkey = raw.hget(key(factory, "state"), "held").split(b":", 2)[2]
    raw.zadd(key(factory, "ready"), {ordkey: 0})
    enqueue_around(backend)
    with caplog.at_level(logging.ERROR, logger="symphra_django"):
        assert sorted(run_all(backend)) == NORMAL
    assert any("task in flight" in r.getMessage() for r in caplog.records)
    assert backend.acknowledge_sync(held) is True
    assert_nothing_left_but_failures(factory, raw, backend, failed=0)


# -- expired leases --------------------------------------------------------------------

def test_an_expired_lease_with_a_malformed_state_fails_alone(factory, backend, raw, caplog):
    backend.enqueue_sync(TaskMessage(name="t", id="bad"))
    [held] = backend.dequeue_sync(1, lease_seconds=300)
    factory.write_raw_state("default", "bad", b"1:3")
    raw.zadd(key(factory, "leases"), {"bad": 1})  # the lease ran out long ago
    enqueue_around(backend)
    with caplog.at_level(logging.ERROR, logger="symphra_django"):
        assert sorted(run_all(backend)) == NORMAL
    [failed] = backend.list_failed_sync()
    assert failed.id == "bad" and "delivery state is not" in failed.error
    assert backend.acknowledge_sync(held) is False
    assert_nothing_left_but_failures(factory, raw, backend, failed=1)


def test_a_lease_of_nothing_is_removed_with_a_log_line(factory, backend, raw, caplog):
    raw.zadd(key(factory, "leases"), {"phantom": 1})
    enqueue_around(backend)
    with caplog.at_level(logging.ERROR, logger="symphra_django"):
        assert sorted(run_all(backend)) == NORMAL
    [line] = [r.getMessage() for r in caplog.records if "phantom" in r.getMessage()]
    assert "removed" in line and "no payload and no delivery state" in line
    assert_nothing_left_but_failures(factory, raw, backend, failed=0)


# -- answering a lease ------------------------------------------------------------------

def test_a_retry_of_a_message_with_an_out_of_range_priority_fails_it_with_the_reason(backend, factory, raw):
    backend.enqueue_sync(TaskMessage(name="t", id="loud"))
    [got] = backend.dequeue_sync(1)
    got.priority = 10**7
    assert backend.reject_sync(got, requeue=True, delay=1.0, error="ValueError: boom") is True
    [failed] = backend.list_failed_sync()
    assert "cannot be put back for a retry" in failed.error and "priority" in failed.error
    assert "ValueError: boom" in failed.error
    assert_nothing_left_but_failures(factory, raw, backend, failed=1)


@pytest.mark.parametrize("delay, ends", [(math.inf, "failed"), (math.nan, "ready"), (1e300, "delayed")])
def test_a_retry_delay_that_is_not_a_time_never_raises(backend, delay, ends):
    backend.enqueue_sync(TaskMessage(name="t", id="odd-delay"))
    [got] = backend.dequeue_sync(1)
    assert backend.reject_sync(got, requeue=True, delay=delay, error="boom") is True
    assert backend.get_status_sync("odd-delay") == ends


def test_a_requeue_the_script_cannot_file_fails_the_task_instead(factory, backend, raw, caplog):
    backend.enqueue_sync(TaskMessage(name="t", id="sent-bad"))
    [got] = backend.dequeue_sync(1)
    with caplog.at_level(logging.ERROR, logger="symphra_django"):
        answered = backend._reported(
            "reject", "default", [got.id, got.lease_token, "requeue", got.to_json(), "12x", "nan"],
        )
    assert answered == 1
    [failed] = backend.list_failed_sync()
    assert "do not form an ordering key" in failed.error
    assert "sent-bad" in caplog.text
    assert_nothing_left_but_failures(factory, raw, backend, failed=1)


def test_rejecting_a_task_whose_state_was_overwritten_fails_it(factory, backend, raw):
    backend.enqueue_sync(TaskMessage(name="t", id="smashed"))
    [got] = backend.dequeue_sync(1)
    factory.write_raw_state("default", "smashed", b"\x00\xff")
    assert backend.reject_sync(got, requeue=True, delay=0, error="boom") is True
    [failed] = backend.list_failed_sync()
    assert "delivery state is not" in failed.error
    assert_nothing_left_but_failures(factory, raw, backend, failed=1)


def test_ack_and_extend_of_a_task_with_a_malformed_state_still_work(factory, backend, raw):
    backend.enqueue_many_sync([TaskMessage(name="t", id="a"), TaskMessage(name="t", id="b")])
    a, b = backend.dequeue_sync(2)
    factory.write_raw_state("default", "a", b"garbage")
    factory.write_raw_state("default", "b", b"garbage")
    assert backend.extend_lease_sync(a, 120) is True
    assert backend.get_status_sync("a") == "in_flight"
    assert backend.acknowledge_many_sync([a, b]) == 2
    assert_nothing_left_but_failures(factory, raw, backend, failed=0)


# -- the enqueue script ----------------------------------------------------------------

def test_an_enqueue_entry_the_script_cannot_file_fails_alone(factory, backend, raw, caplog):
    good = TaskMessage(name="t", id="good")
    args = ["new"]
    for task_id, attempts, head, due in [
        ("good", 0, order_head(0, 0.0), "0"),
        ("nan-due", 0, order_head(0, 0.0), "nan"),
        ("bad-head", 0, "not digits", "0"),
        ("big-count", "1" * 30, order_head(0, 0.0), "0"),
    ]:
        args += [task_id, good.to_json(), attempts, 3, head, due]
    with caplog.at_level(logging.ERROR, logger="symphra_django"):
        assert backend._reported("enqueue", "default", args) == 1
    assert run_all(backend) == ["good"]
    failures = {t.id: t.error for t in backend.list_failed_sync()}
    assert set(failures) == {"nan-due", "bad-head", "big-count"}
    assert "finite number" in failures["nan-due"]
    assert "ordering key" in failures["bad-head"]
    assert "count" in failures["big-count"]
    assert_nothing_left_but_failures(factory, raw, backend, failed=3)


# -- reading the queue -----------------------------------------------------------------

def test_stats_status_and_peek_step_over_malformed_entries(factory, backend, raw):
    enqueue_around(backend, TaskMessage(name="t", id="bad"))
    factory.write_raw_state("default", "bad", b"garbage")
    raw.zadd(key(factory, "ready"), {b"not-an-ordering-key": 0, b"!before-digits": 0})
    stats = backend.get_stats_sync()
    assert stats.ready == 23  # index members, bad ones included, until a claim files them
    assert stats.oldest_due is not None and stats.oldest_due < time.time()
    assert backend.get_status_sync("bad") == "ready"
    assert [t.id for t in backend.peek_sync(limit=100)] == [*NORMAL[:10], "bad", *NORMAL[10:]]
    assert sorted(run_all(backend)) == NORMAL
    assert_nothing_left_but_failures(factory, raw, backend, failed=1)


def test_stats_end_on_the_lowest_priority_encodable(backend):
    backend.enqueue_sync(TaskMessage(name="t", id="lowest"), priority=-4_999_999)
    backend.enqueue_sync(TaskMessage(name="t", id="usual"))
    assert backend.get_stats_sync().ready == 2


# -- damaged keys ----------------------------------------------------------------------

def test_a_key_of_the_wrong_type_stops_the_script_before_any_write(factory, backend, raw):
    enqueue_around(backend)
    raw.delete(key(factory, "tokens"))
    raw.set(key(factory, "tokens"), "overwritten")
    before = census_without_tokens(factory, raw)
    with pytest.raises(redis.ResponseError, match="storage is damaged"):
        backend.dequeue_sync(5)
    assert census_without_tokens(factory, raw) == before == {"tasks": 20, "state": 20, "ready": 20}
    assert stranded(factory, raw) == set()
    assert backend.clear_sync() == 20


# -- damaged keys under an enqueue ---------------------------------------------------------
#
# A plain enqueue (new, well-formed tasks) does not TYPE every key first: the
# keys it writes are proved by the commands that read them or by its first
# write, each before anything is written. These pin down that a damaged key
# still stops it with the same error and no write, and that the keys it does
# not touch still stop the next script that does.

KEY_ORDER = ("tasks", "state", "ready", "delayed", "leases", "tokens", "seq", "failed", "failed_at")


def snapshot(factory, raw) -> dict[str, object]:
    """What every key of the queue holds, whatever its type."""
    read = {
        b"hash": raw.hgetall, b"string": raw.get, b"none": lambda _: None,
        b"zset": lambda k: raw.zrange(k, 0, -1, withscores=True),
    }
    return {name: read[raw.type(key(factory, name))](key(factory, name)) for name in KEY_ORDER}


def damage(factory, raw, name: str) -> None:
    """Overwrite one key of the queue with a value of the wrong type."""
    raw.delete(key(factory, name))
    if name == "seq":
        raw.hset(key(factory, name), "not", "a counter")
    else:
        raw.set(key(factory, name), "overwritten")


def later(seconds: float = 3600) -> float:
    return time.time() + seconds


def enqueue_new(backend, how: str, scheduled: float | None = None) -> int:
    """Enqueue new tasks as one task (the script's single-task steps) or a batch of two."""
    if how == "one":
        return int(backend.enqueue_sync(TaskMessage(name="t", id="new"), scheduled))
    batch = [TaskMessage(name="t", id=f"new-{i}") for i in range(2)]
    for task in batch:
        task.scheduled_time = time.time() if scheduled is None else scheduled
    return backend.enqueue_many_sync(batch)


@pytest.mark.parametrize("how", ["one", "batch"])
@pytest.mark.parametrize(("name", "due"), [
    ("tasks", "now"), ("state", "now"), ("ready", "now"), ("seq", "now"), ("failed", "now"),
    ("tasks", "later"), ("state", "later"), ("delayed", "later"), ("seq", "later"), ("failed", "later"),
])
def test_an_enqueue_onto_a_damaged_key_it_uses_writes_nothing(factory, backend, raw, name, due, how):
    enqueue_around(backend)
    backend.enqueue_sync(TaskMessage(name="t", id="waiting"), later())
    damage(factory, raw, name)
    before = snapshot(factory, raw)
    with pytest.raises(redis.ResponseError, match=f"{key(factory, name)}.*storage is damaged"):
        enqueue_new(backend, how, time.time() if due == "now" else later())
    assert snapshot(factory, raw) == before


@pytest.mark.parametrize("name", ["ready", "delayed"])
def test_a_batch_for_both_indexes_writes_nothing_if_either_is_damaged(factory, backend, raw, name):
    enqueue_around(backend)
    damage(factory, raw, name)
    before = snapshot(factory, raw)
    batch = [TaskMessage(name="t", id="due-now"), TaskMessage(name="t", id="due-later", scheduled_time=later())]
    with pytest.raises(redis.ResponseError, match=f"{key(factory, name)}.*storage is damaged"):
        backend.enqueue_many_sync(batch)
    assert snapshot(factory, raw) == before


@pytest.mark.parametrize("how", ["one", "batch"])
@pytest.mark.parametrize("value", ["-5", "12x", "007x", "1" * 16, ""])
def test_an_enqueue_after_a_sequence_that_is_not_a_counter_writes_nothing(factory, backend, raw, value, how):
    enqueue_around(backend)
    raw.set(key(factory, "seq"), value)
    before = snapshot(factory, raw)
    with pytest.raises(redis.ResponseError, match="not a sequence number: the queue storage is damaged"):
        enqueue_new(backend, how)
    assert snapshot(factory, raw) == before


@pytest.mark.parametrize("how", ["one", "batch"])
@pytest.mark.parametrize(("name", "due"), [
    ("leases", "now"), ("tokens", "now"), ("failed_at", "now"), ("delayed", "now"), ("ready", "later"),
])
def test_a_damaged_key_an_enqueue_does_not_use_stops_the_next_claim(factory, backend, raw, name, due, how):
    damage(factory, raw, name)
    scheduled = time.time() - 1 if due == "now" else later(1)
    filed = enqueue_new(backend, how, scheduled)
    ids = {f"new-{i}" for i in range(filed)} if how == "batch" else {"new"}
    assert filed == len(ids)
    # Filed whole: payload, state and index entry, nothing stranded.
    index = raw.zrange(key(factory, "ready" if due == "now" else "delayed"), 0, -1)
    assert {member[ORDKEY_DIGITS:].decode() for member in index} == ids
    for task_id in ids:
        assert raw.hexists(key(factory, "tasks"), task_id)
        assert raw.hexists(key(factory, "state"), task_id)
    if due == "later":
        time.sleep(1.2)
    before = snapshot(factory, raw)
    with pytest.raises(redis.ResponseError, match="storage is damaged"):
        backend.dequeue_sync(5)
    assert snapshot(factory, raw) == before
    raw.delete(key(factory, name))
    assert {task.id for task in backend.dequeue_sync(5)} == ids


def test_an_enqueue_that_files_a_malformed_entry_checks_every_key_first(factory, backend, raw):
    enqueue_around(backend)
    damage(factory, raw, "failed_at")
    before = snapshot(factory, raw)
    good = TaskMessage(name="t", id="good")
    args = ["new", "good", good.to_json(), 0, 3, order_head(0, 0.0), "0",
            "nan-due", good.to_json(), 0, 3, order_head(0, 0.0), "nan"]
    with pytest.raises(redis.ResponseError, match=f"{key(factory, 'failed_at')}.*storage is damaged"):
        backend._reported("enqueue", "default", args)
    assert snapshot(factory, raw) == before


@pytest.mark.parametrize("name", ["leases", "tokens", "failed_at"])
def test_enqueueing_a_failed_task_again_checks_every_key_first(factory, backend, raw, name):
    backend.enqueue_sync(TaskMessage(name="t", id="again"))
    [task] = backend.dequeue_sync(1)
    backend.reject_sync(task, error="boom")
    damage(factory, raw, name)
    before = snapshot(factory, raw)
    with pytest.raises(redis.ResponseError, match=f"{key(factory, name)}.*storage is damaged"):
        backend.enqueue_sync(TaskMessage(name="t", id="again"))
    with pytest.raises(redis.ResponseError, match=f"{key(factory, name)}.*storage is damaged"):
        backend._reported("enqueue", "default", ["retry", "again", task.to_json(), 0, 3, order_head(0, 0.0), "0"])
    assert snapshot(factory, raw) == before


def test_a_duplicate_enqueue_onto_a_damaged_queue_still_refuses(factory, backend, raw):
    backend.enqueue_sync(TaskMessage(name="t", id="twice"))
    damage(factory, raw, "leases")
    before = snapshot(factory, raw)
    with pytest.raises(redis.ResponseError, match="storage is damaged"):
        backend.enqueue_sync(TaskMessage(name="t", id="twice"))
    assert snapshot(factory, raw) == before
