"""Run-wide counters for the summary: requests by method, retries, throttles, latency, and
the requests in flight (now and at most)."""

from __future__ import annotations

import math
from array import array
from collections import Counter
from dataclasses import dataclass, field

from batch_ims.models import Status


@dataclass(slots=True)
class RunStats:
    counts: Counter[str] = field(default_factory=Counter)
    by_target: dict[str, Counter[str]] = field(default_factory=dict)  # runs over several
    requests_by_method: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    throttled: int = 0
    server_date: str | None = None  # the last `Date` header seen, for the clock-skew hint
    in_flight: int = 0  # requests sent and not yet answered (or given up)
    in_flight_peak: int = 0
    _latencies_ms: array[float] = field(default_factory=lambda: array("f"))

    @property
    def requests(self) -> int:
        """Every request sent: reads and PATCHes, retries included."""
        return sum(self.requests_by_method.values())

    def count(self, status: Status, target: str = "") -> None:
        self.counts[status.value] += 1
        if target:
            self.by_target.setdefault(target, Counter())[status.value] += 1

    def request_sent(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.in_flight_peak:
            self.in_flight_peak = self.in_flight

    def request_done(self, method: str, latency_ms: float, date: str | None = None) -> None:
        self.in_flight -= 1
        self.requests_by_method[method] += 1
        self._latencies_ms.append(latency_ms)
        if date is not None:
            self.server_date = date

    def request_cancelled(self, method: str) -> None:
        """A request cut off in flight: counted as sent (it may have been applied), no latency;
        no longer in flight."""
        self.in_flight -= 1
        self.requests_by_method[method] += 1

    def retry_scheduled(self) -> None:
        self.retries += 1

    def throttle_seen(self) -> None:
        self.throttled += 1

    def percentiles(self) -> dict[str, float]:
        """Nearest-rank p50/p95/p99 of request latency in milliseconds (0 when none)."""
        values = sorted(self._latencies_ms)
        if not values:
            return {"p50": 0.0, "p95": 0.0, "p99": 0.0}

        def rank(p: float) -> float:
            index = max(0, min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1))
            return round(float(values[index]), 2)

        return {"p50": rank(50), "p95": rank(95), "p99": rank(99)}

    def all_counts(self) -> dict[str, int]:
        return _every_status(self.counts)

    def target_counts(self) -> dict[str, dict[str, int]]:
        """Each target's counts, in a run over several targets (else empty)."""
        return {target: _every_status(counts) for target, counts in self.by_target.items()}


def _every_status(counts: Counter[str]) -> dict[str, int]:
    return {status.value: counts.get(status.value, 0) for status in Status}
