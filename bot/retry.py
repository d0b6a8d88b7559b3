"""Retry timing for outbound clients: capped full-jitter backoff that honours Retry-After."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a call gets and how long to wait between them.

    `attempts` counts every try, the first included, so `attempts=1` never retries.
    """

    attempts: int = 4
    base: float = 0.2
    cap: float = 5.0
    max_retry_after: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if min(self.base, self.cap, self.max_retry_after) < 0:
            raise ValueError("base, cap and max_retry_after must not be negative")

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based).

        Full jitter (uniform in [0, min(cap, base·2^(attempt-1))]) keeps replicas that failed
        together from retrying together. A server's Retry-After is a floor, because retrying
        earlier only earns another refusal; it is clamped to `max_retry_after` so a hostile or
        confused server cannot park a caller for hours.
        """
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        # min() before the power would overflow a float on absurd attempt numbers.
        exponent = min(attempt - 1, 64)
        ceiling = min(self.cap, self.base * 2.0**exponent)
        jittered = rng.uniform(0.0, ceiling)
        if retry_after is None:
            return jittered
        return max(jittered, min(max(retry_after, 0.0), self.max_retry_after))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or HTTP-date), or None if unusable.

    `now` is the reference for HTTP dates (defaults to the current UTC time); a date in the past
    means "retry now", 0.0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until(text, now or datetime.now(UTC))
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _seconds_until(http_date: str, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; "-0000" parses as naive.
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
