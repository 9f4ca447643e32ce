"""Retry policy as data plus small pure functions: what is retried, how long to wait."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})  # what any HTTP API may recover from


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int  # from the run's settings (--max-attempts)
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0

    def should_retry(self, *, attempt: int, retryable: bool) -> bool:
        return retryable and attempt < self.max_attempts

    def delay(
        self, *, attempt: int, retry_after_s: float | None, rand: Callable[[], float]
    ) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))]; Retry-After wins."""
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_retry_after_s)
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return rand() * ceiling


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
