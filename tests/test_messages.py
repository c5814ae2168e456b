"""The one decoder of stored payloads and the one delivery limit."""

from __future__ import annotations

import json

import pytest

from symphra_django.exceptions import CorruptPayload
from symphra_django.messages import (
    CRASH_REDELIVERIES,
    MAX_PRIORITY,
    MIN_PRIORITY,
    REASON_LENGTH,
    TaskMessage,
    delivery_limit,
)

GOOD = TaskMessage(name="app.tasks.send", args=[1, "ü"], kwargs={"to": "a@b.c"}, priority=5,
                   max_attempts=3, meta={"tick": 1.5})


def stored(**changes) -> str:
    data = GOOD.to_dict()
    data.update(changes)
    return json.dumps(data)


def refusal(raw) -> str:
    with pytest.raises(CorruptPayload) as refused:
        TaskMessage.from_json(raw)
    reason = str(refused.value)
    assert len(reason) <= REASON_LENGTH
    return reason


def test_a_valid_payload_decodes_the_same_from_text_and_from_utf8_bytes():
    text = GOOD.to_json()
    assert TaskMessage.from_json(text) == GOOD
    assert TaskMessage.from_json(text.encode()) == GOOD
    assert TaskMessage.from_json(memoryview(text.encode())) == GOOD  # a BLOB column


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x80\x04\x95pickled", "payload is not UTF-8 text (byte 0: invalid start byte)"),
        (b'{"v": 1, "id": "\xff"}', "payload is not UTF-8 text (byte 16: invalid start byte)"),
        ("[" * 200_000 + "]" * 200_000, "payload is not valid JSON: nested too deeply"),
        ("{not json", "payload is not valid JSON: JSONDecodeError: Expecting property name"),
        ("", "payload is not valid JSON"),
        ("[1, 2]", "payload is a list, not a JSON object"),
        ("null", "payload is a NoneType, not a JSON object"),
        (12345, "payload is a int, not text"),
    ],
    ids=["pickle", "invalid-utf8", "deep-nesting", "bad-json", "empty", "a-list", "null", "not-text"],
)
def test_data_that_is_not_a_json_object_is_refused_with_a_short_reason(raw, reason):
    assert refusal(raw).startswith(reason)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("name", None, "payload field 'name' has the wrong type (NoneType)"),
        ("args", {"a": 1}, "payload field 'args' has the wrong type (dict)"),
        ("priority", True, "payload field 'priority' has the wrong type (bool)"),
        ("priority", MAX_PRIORITY + 1, f"payload field 'priority' is outside {MIN_PRIORITY}..{MAX_PRIORITY}"),
        ("priority", MIN_PRIORITY - 1, f"payload field 'priority' is outside {MIN_PRIORITY}..{MAX_PRIORITY}"),
        ("priority", 10**4000, f"payload field 'priority' is outside {MIN_PRIORITY}..{MAX_PRIORITY}"),
        ("scheduled_time", "soon", "payload field 'scheduled_time' has the wrong type (str)"),
        ("scheduled_time", 10**400, "OverflowError"),
        ("attempts", -1, "payload field 'attempts' is negative"),
        ("max_attempts", 2.5, "payload field 'max_attempts' has the wrong type (float)"),
        ("meta", [], "payload field 'meta' has the wrong type (list)"),
        ("v", "x" * 100_000, "unknown payload version 'xxx"),
    ],
    ids=lambda value: (value if isinstance(value, str) else repr(value))[:24],
)
def test_a_field_of_the_wrong_type_or_out_of_range_is_named_in_the_reason(field, value, reason):
    assert reason in refusal(stored(**{field: value}))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("field", ["scheduled_time", "enqueued_at"])
def test_times_that_are_not_finite_numbers_are_refused(field, constant):
    raw = stored(**{field: 0}).replace(f'"{field}": 0', f'"{field}": {constant}')
    assert refusal(raw) == f"payload field {field!r} is not a finite number"


def test_a_missing_field_is_named():
    data = GOOD.to_dict()
    del data["kwargs"]
    assert refusal(json.dumps(data)) == "payload has no 'kwargs'"


def test_a_huge_value_is_never_echoed_back():
    assert len(refusal(stored(v="x" * 1_000_000))) < 100
    assert len(refusal("{" + '"a":' * 10 + "x" * 1_000_000)) <= REASON_LENGTH


def test_a_message_gets_its_policy_runs_plus_the_crash_redeliveries():
    assert CRASH_REDELIVERIES == 2
    assert delivery_limit(3) == 5
    assert delivery_limit(1) == 3
    # A message stored without a limit is treated as allowed one run.
    assert delivery_limit(0) == 3


def test_attempts_read_as_n_of_m():
    assert TaskMessage(name="t", attempts=2, max_attempts=3).attempts_display == "2 of 3"


def test_deliveries_past_the_runs_allowed_are_named_crash_redeliveries():
    assert TaskMessage(name="t", attempts=1, max_attempts=1).attempts_display == "1 of 1"
    assert TaskMessage(name="t", attempts=0, max_attempts=1).attempts_display == "0 of 1"
    assert TaskMessage(name="t", attempts=2, max_attempts=1).attempts_display == "2 of 1 (1 crash redelivery)"
    assert TaskMessage(name="t", attempts=5, max_attempts=3).attempts_display == "5 of 3 (2 crash redeliveries)"
    # A message stored without a limit is allowed one run (as delivery_limit has it).
    assert TaskMessage(name="t", attempts=1, max_attempts=0).attempts_display == "1 of 1"


def test_failed_at_is_read_from_meta_only_when_it_is_a_time():
    assert TaskMessage(name="t", meta={"failed_at": 1_700_000_000.5}).failed_at == 1_700_000_000.5
    assert TaskMessage(name="t", meta={"failed_at": 1_700_000_000}).failed_at == 1_700_000_000.0
    for stored in ("yesterday", None, True, float("nan"), float("inf"), [1]):
        assert TaskMessage(name="t", meta={"failed_at": stored}).failed_at is None, stored
    assert TaskMessage(name="t").failed_at is None
