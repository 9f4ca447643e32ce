"""batch_ims.transport.retry: backoff bounds, Retry-After, how often a request is retried.

What is retryable is the image service's business: tests/test_ims_service.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from batch_ims.transport.retry import RetryPolicy, parse_retry_after

NOW = datetime(2024, 3, 15, 8, 15, 0, tzinfo=UTC)
ALMOST_ONE = 1.0 - 1e-12


@pytest.mark.parametrize(
    ("attempt", "upper"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 16.0), (7, 30.0), (12, 30.0)],
)
def test_full_jitter_delay_lies_between_zero_and_capped_exponential(
    attempt: int, upper: float
) -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_s=0.5, max_delay_s=30.0)

    low = policy.delay(attempt=attempt, retry_after_s=None, rand=lambda: 0.0)
    high = policy.delay(attempt=attempt, retry_after_s=None, rand=lambda: ALMOST_ONE)

    assert low == 0.0
    assert high == pytest.approx(upper)


def test_full_jitter_delay_scales_with_the_random_draw() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_s=1.0, max_delay_s=30.0)

    assert policy.delay(attempt=3, retry_after_s=None, rand=lambda: 0.25) == pytest.approx(1.0)


def test_retry_after_wins_over_jitter() -> None:
    policy = RetryPolicy(max_attempts=5)

    assert policy.delay(attempt=1, retry_after_s=7.0, rand=lambda: ALMOST_ONE) == 7.0


def test_retry_after_is_capped_by_max_retry_after() -> None:
    policy = RetryPolicy(max_attempts=5, max_retry_after_s=120.0)

    assert policy.delay(attempt=1, retry_after_s=3600.0, rand=lambda: 0.0) == 120.0


def test_negative_retry_after_means_no_wait() -> None:
    assert RetryPolicy(max_attempts=5).delay(attempt=1, retry_after_s=-3.0, rand=lambda: 0.5) == 0.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("5", 5.0), (" 7 ", 7.0), ("1.5", 1.5), ("0", 0.0), ("-4", 0.0)],
)
def test_retry_after_as_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header, NOW) == seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("Fri, 15 Mar 2024 08:15:30 GMT", 30.0),
        ("Fri, 15 Mar 2024 08:17:00 GMT", 120.0),
        ("Fri, 15 Mar 2024 08:14:00 GMT", 0.0),  # already past
    ],
)
def test_retry_after_as_http_date(header: str, seconds: float) -> None:
    assert parse_retry_after(header, NOW) == seconds


@pytest.mark.parametrize("header", [None, "", "soon", "Fri, 99 Foo 2024"])
def test_retry_after_unreadable_or_absent_is_none(header: str | None) -> None:
    assert parse_retry_after(header, NOW) is None


def test_http_date_retry_after_far_ahead_is_capped_in_delay() -> None:
    wait = parse_retry_after("Sat, 16 Mar 2024 08:15:00 GMT", NOW)

    assert wait == 86400.0
    assert RetryPolicy(max_attempts=5, max_retry_after_s=120.0).delay(
        attempt=1, retry_after_s=wait, rand=lambda: 0.0
    ) == pytest.approx(120.0)


def test_should_retry_stops_at_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=5)

    decisions = [policy.should_retry(attempt=a, retryable=True) for a in range(1, 7)]

    assert decisions == [True, True, True, True, False, False]


def test_should_retry_never_retries_what_is_not_retryable() -> None:
    assert RetryPolicy(max_attempts=5).should_retry(attempt=1, retryable=False) is False


def test_single_attempt_policy_never_retries() -> None:
    assert RetryPolicy(max_attempts=1).should_retry(attempt=1, retryable=True) is False
