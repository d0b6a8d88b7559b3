"""RetryPolicy timing and Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TypedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.retry import RetryPolicy, parse_retry_after

policies = st.builds(
    RetryPolicy,
    attempts=st.integers(1, 10),
    base=st.floats(0, 10, allow_nan=False),
    cap=st.floats(0, 60, allow_nan=False),
    max_retry_after=st.floats(0, 120, allow_nan=False),
)
attempt_numbers = st.integers(1, 10_000)
seeds = st.integers(0, 2**32)


class PolicyFields(TypedDict, total=False):
    """RetryPolicy's fields as keyword arguments."""

    attempts: int
    base: float
    cap: float
    max_retry_after: float


class Highest(random.Random):
    """Always draws the top of the range, exposing the backoff ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


@given(policies, attempt_numbers, seeds)
def test_delay_without_retry_after_is_within_zero_and_cap(
    policy: RetryPolicy, attempt: int, seed: int
) -> None:
    delay = policy.delay(attempt, None, random.Random(seed))
    assert 0.0 <= delay <= policy.cap
    assert delay <= policy.base * 2.0 ** min(attempt - 1, 64)


@given(policies, attempt_numbers, seeds, st.floats(0, 10_000, allow_nan=False))
def test_delay_honours_retry_after_up_to_its_bound(
    policy: RetryPolicy, attempt: int, seed: int, retry_after: float
) -> None:
    delay = policy.delay(attempt, retry_after, random.Random(seed))
    assert delay >= min(retry_after, policy.max_retry_after)
    assert delay <= max(policy.cap, policy.max_retry_after)
    if retry_after <= policy.max_retry_after:
        assert delay >= retry_after


def test_ceiling_doubles_from_base_until_cap() -> None:
    policy = RetryPolicy(base=0.2, cap=2.0)
    ceilings = [policy.delay(n, None, Highest()) for n in range(1, 7)]
    assert ceilings == pytest.approx([0.2, 0.4, 0.8, 1.6, 2.0, 2.0])


def test_delay_is_jittered_over_the_whole_range() -> None:
    policy = RetryPolicy(base=1.0, cap=8.0)
    rng = random.Random(1234)
    delays = [policy.delay(4, None, rng) for _ in range(500)]
    assert min(delays) < 0.8
    assert max(delays) > 7.2
    assert len(set(delays)) == len(delays)


def test_retry_after_above_the_bound_is_clamped() -> None:
    policy = RetryPolicy(max_retry_after=30.0)
    assert policy.delay(1, 3600.0, random.Random(0)) == 30.0


def test_negative_retry_after_counts_as_none() -> None:
    policy = RetryPolicy(base=0.0)
    assert policy.delay(1, -5.0, random.Random(0)) == 0.0


@pytest.mark.parametrize(
    "kwargs", [{"attempts": 0}, {"base": -1.0}, {"cap": -0.1}, {"max_retry_after": -1.0}]
)
def test_nonsense_policies_are_refused(kwargs: PolicyFields) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="1-based"):
        RetryPolicy().delay(0, None, random.Random(0))


@given(st.integers(0, 10**9))
def test_retry_after_seconds(seconds: int) -> None:
    assert parse_retry_after(str(seconds)) == seconds
    assert parse_retry_after(f"  {seconds} ") == seconds


@pytest.mark.parametrize("value", [None, "", "  ", "-1", "nan", "inf", "soon", "Mon, 99 Foo"])
def test_unusable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_fractional_retry_after_is_accepted() -> None:
    assert parse_retry_after("2.5") == 2.5


@given(st.integers(0, 86_400))
def test_retry_after_http_date_is_seconds_from_now(seconds: int) -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=seconds), usegmt=True)
    assert parse_retry_after(header, now=now) == seconds


def test_retry_after_date_in_the_past_means_now() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now=now) == 0.0


def test_retry_after_date_without_zone_is_read_as_gmt() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 01 May 2024 12:00:09 -0000", now=now) == 9.0
