"""Injected faults: seeded dice for 5xx/reset/IMG.0060/lost answers, the latency of each
answer, and a token bucket."""

from __future__ import annotations

import enum
import random

from batch_ims.emulator.config import EmulatorConfig

_FAIL_STATUSES = (500, 502, 503, 504)


class Fault(enum.Enum):
    NONE = "none"
    RESET = "reset"  # close the connection without answering, before applying
    FAIL = "fail"  # a 5xx answer
    IMS_THROTTLE = "ims_throttle"  # 400 IMG.0060


class FaultDice:
    """Draws faults from one `random.Random(seed)`, so a run's sequence is reproducible."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._rng = random.Random(config.fault_seed)
        self._reset = config.reset_rate
        self._fail = config.reset_rate + config.fail_rate
        self._throttle = self._fail + config.ims_throttle_rate
        self._drop = config.drop_after_apply_rate

    def before_processing(self) -> tuple[Fault, int]:
        """The fault for one request and, for `Fault.FAIL`, its status code."""
        if self._throttle <= 0.0:
            return Fault.NONE, 0
        draw = self._rng.random()
        if draw < self._reset:
            return Fault.RESET, 0
        if draw < self._fail:
            return Fault.FAIL, self._rng.choice(_FAIL_STATUSES)
        if draw < self._throttle:
            return Fault.IMS_THROTTLE, 0
        return Fault.NONE, 0

    def drop_after_apply(self) -> bool:
        """Whether to lose the answer of a request that succeeded."""
        return self._drop > 0.0 and self._rng.random() < self._drop


class Latency:
    """The delay before each answer: constant, or drawn from an exponential distribution of
    the same mean (most answers quick, a long tail of slow ones), seeded like the faults."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._mean_s = config.latency_ms / 1000.0
        self._rng = random.Random(config.fault_seed + 1)
        self._exponential = config.latency_distribution == "exponential"

    def draw(self) -> float:
        """Seconds to wait before this answer (0: none)."""
        if self._mean_s <= 0.0:
            return 0.0
        if self._exponential:
            return self._rng.expovariate(1.0 / self._mean_s)
        return self._mean_s


class TokenBucket:
    """`rate` tokens per second, holding at most `burst`; starts full.

    The emulator's default burst is one second's worth (`burst = rate`), like APIG's
    "limit N per 1 second" policies; `rate_burst` makes it smaller for harsher tests.
    """

    def __init__(self, rate: float, burst: float, *, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._last = now

    def take(self, now: float) -> bool:
        """Take one token if there is one; `now` is a monotonic time in seconds."""
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
