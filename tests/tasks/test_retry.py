"""RetryPolicy: strategies, presets and bounds."""

import pytest

from symphra_django import RetryPolicy


def test_exponential_backoff_grows_and_is_bounded():
    policy = RetryPolicy(max_attempts=10, wait_min=1, wait_max=20, multiplier=2, jitter=False)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 16, 20]


def test_jitter_stays_between_half_and_full_backoff():
    policy = RetryPolicy(wait_min=1, wait_max=100, multiplier=2)
    for _ in range(200):
        assert 4 <= policy.delay(4) <= 8


def test_fixed_random_and_none_strategies():
    assert RetryPolicy(strategy="fixed", wait_min=3).delay(5) == 3
    assert 2 <= RetryPolicy(strategy="random", wait_min=2, wait_max=4).delay(1) <= 4
    assert RetryPolicy(strategy="none").delay(3) == 0


def test_retry_stops_after_max_attempts_and_for_other_exceptions():
    policy = RetryPolicy(max_attempts=3, retry_on=(ConnectionError,))
    assert policy.should_retry(ConnectionError(), 2)
    assert not policy.should_retry(ConnectionError(), 3)
    assert not policy.should_retry(ValueError(), 1)


def test_presets():
    assert RetryPolicy.no_retry().max_attempts == 1
    assert RetryPolicy.default().max_attempts == 3
    assert RetryPolicy.aggressive().max_attempts == 10
    assert RetryPolicy.from_value("aggressive") == RetryPolicy.aggressive()
    assert RetryPolicy.from_value({"max_attempts": 5}).max_attempts == 5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"strategy": "sometimes"}, "unknown retry strategy"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"wait_min": 5, "wait_max": 1}, "wait_min <= wait_max"),
        ({"retry_on": "ValueError"}, "exception classes"),
    ],
)
def test_bad_fields_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**fields)


def test_unknown_dict_field_is_refused_listing_valid_ones():
    with pytest.raises(ValueError, match="unknown field.*'tries'.*max_attempts"):
        RetryPolicy.from_value({"tries": 3})
