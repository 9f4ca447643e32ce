"""How many requests may be in flight: what the rate needs at the measured latency, no more.

Little's law: requests in flight = rate x latency. The limit follows an EWMA of the time
a worker is held per request (the latency of answered requests, plus the backoff before a
retry, during which the worker sends nothing) times the current rate (lowered on
throttling), with headroom for the long tail, within a ceiling: the user's
`--concurrency`, else a default, and never more than the process's file descriptors allow.
The pacer still spaces the sends `1/rate` apart, so workers beyond what the latency needs
wait for a slot instead of reaching the server: the server sees about `rate x latency` in
flight whatever the limit.

One instance belongs to one session (one target): its rate and its latency are its own.
The policy is data and `needed` a pure function; the limit's clock is whatever feeds it
latencies, so tests need no network and no waiting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import structlog

_log = structlog.get_logger("batch_ims")


class CurrentRate(Protocol):
    """What the limit reads of the rate: its current value (requests/s)."""

    @property
    def current(self) -> float: ...


@dataclass(frozen=True, slots=True)
class InFlightPolicy:
    """The knobs of the in-flight limit, as data."""

    ceiling: int  # never more workers than this
    ceiling_source: str  # why the ceiling is what it is: "--concurrency", "default", ...
    headroom: float = 1.5  # workers per request the rate keeps in flight (the long tail)
    spare: int = 2  # plus these, so a worker is free at each pacer slot at low rates
    initial_latency_s: float = 1.0  # assumed until answers arrive (a slow real endpoint)
    smoothing: float = 0.05  # EWMA weight of each new latency sample
    warm_up: int = 50  # answers before a ceiling that holds the rate down is reported


def needed(rate: float, latency_s: float, policy: InFlightPolicy) -> int:
    """Workers that keep `rate` requests/s going at `latency_s` each, with headroom."""
    return math.ceil(rate * latency_s * policy.headroom) + policy.spare


def reachable_rate(workers: int, latency_s: float) -> float:
    """The most requests/s `workers` can keep going at `latency_s` each (Little's law)."""
    return workers / latency_s if latency_s > 0 else math.inf


class InFlightLimit:
    """The number of workers a session's dispatcher keeps: `target`, read at each image.

    `answered(latency_s)` is called for every request that got an HTTP answer; timeouts
    and connection errors say nothing of the server's latency and are not fed in (they
    would grow the pool toward an endpoint that does not answer). `held(seconds)` adds a
    retry's backoff to the last request's time: the EWMA of latency plus backoff.
    """

    def __init__(self, policy: InFlightPolicy, rate: CurrentRate) -> None:
        if policy.ceiling < 1:
            raise ValueError("the in-flight ceiling must be at least 1")
        self.policy = policy
        self._rate = rate
        self.latency_s = policy.initial_latency_s
        self.answers = 0
        self.binding_reported = False
        self.target = min(policy.ceiling, needed(rate.current, self.latency_s, policy))

    def answered(self, latency_s: float) -> None:
        policy = self.policy
        self.latency_s += policy.smoothing * (latency_s - self.latency_s)
        self.answers += 1
        self._follow()

    def held(self, seconds: float) -> None:
        """A worker waits `seconds` before a retry: as if its last request took that longer
        (EWMA is linear, so this equals one sample of latency + backoff)."""
        self.latency_s += self.policy.smoothing * seconds
        self._follow()

    def _follow(self) -> None:
        policy = self.policy
        want = needed(self._rate.current, self.latency_s, policy)
        if want <= policy.ceiling:
            self.target = want
            return
        self.target = policy.ceiling
        if not self.binding_reported and self.answers >= policy.warm_up:
            self._report_binding(want)

    def _report_binding(self, want: int) -> None:
        """Once: the ceiling holds the rate down, and the figure that would reach it."""
        rate = self._rate.current
        reachable = reachable_rate(self.policy.ceiling, self.latency_s)
        if reachable >= rate:  # within the headroom: the rate is still reached
            return
        self.binding_reported = True
        _log.warning(
            "concurrency.limiting",
            concurrency=self.policy.ceiling,
            ceiling_source=self.policy.ceiling_source,
            rate=round(rate, 2),
            reachable_rate=round(reachable, 2),
            latency_ms=round(self.latency_s * 1000, 1),
            concurrency_needed=want,
        )
