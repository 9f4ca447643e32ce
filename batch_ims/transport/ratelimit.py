"""Request pacing: a smooth rate shared by all workers, adapted to throttling (AIMD).

`--rate` is a ceiling. Requests are spaced `1/rate` apart (no burst beyond a few
milliseconds' worth, so no one-second window can hold more than the rate). When the
API is overloaded (more than a tenth of the last second's answers are 429 or IMS's own
`400 IMG.0060`), the rate drops to a little under what the API was accepting over the
last second (multiplicative decrease); while
answers come back clean it climbs again a few percent a second (additive increase)
towards the ceiling. Clock and sleep are injected so the policy is testable without
waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_log = structlog.get_logger("batch_ims.rate")


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """The knobs of the adaptive rate, as data."""

    ceiling: float
    decrease_factor: float = 0.9  # new rate = factor * rate accepted over the last window
    increase_per_s: float = 0.05  # climb by this share of the current rate per clean second
    min_increase_per_s: float = 0.5  # ... but at least this many requests/s per second
    floor: float = 0.2  # never slower than this (requests/s)
    cooldown_s: float = 1.0  # throttles within this long after a decrease were already priced in
    window_s: float = 1.0  # how far back answers are counted
    overload_share: float = 0.1  # lower only when more of the window's answers are throttles
    tolerance_s: float = 0.005  # lateness the pacer may catch up on (keeps the average exact)


class AdaptiveRate:
    """The current rate: lowered when the API is overloaded, raised while it is not.

    A lone throttle is noise (IMS answers `IMG.0060` now and then at any rate); the rate
    is lowered only when throttles are more than `overload_share` of the last window's
    answers, which is what a real limit looks like once the client exceeds it.
    """

    def __init__(self, policy: RatePolicy, clock: Clock) -> None:
        if policy.ceiling <= 0:
            raise ValueError("rate ceiling must be positive")
        self.policy = policy
        self._clock = clock
        self.current = policy.ceiling
        self._last_change = clock()
        self._last_decrease = float("-inf")
        self._answers: deque[tuple[float, bool]] = deque()  # (time, throttled)
        self._throttled_in_window = 0
        self._last_raise_logged = float("-inf")
        self.decreases = 0

    def _note(self, now: float, throttled: bool) -> None:
        answers = self._answers
        answers.append((now, throttled))
        self._throttled_in_window += throttled
        horizon = now - self.policy.window_s
        while answers[0][0] < horizon:
            _, old = answers.popleft()
            self._throttled_in_window -= old

    def on_accepted(self) -> None:
        """An answer that was not throttling: count it and climb if due."""
        now = self._clock()
        self._note(now, False)
        if self.current >= self.policy.ceiling:
            self._last_change = now
            return
        elapsed = now - self._last_change
        if elapsed <= 0:
            return
        step = max(self.current * self.policy.increase_per_s, self.policy.min_increase_per_s)
        self.current = min(self.policy.ceiling, self.current + step * elapsed)
        self._last_change = now
        if now - self._last_raise_logged >= 1.0:
            self._last_raise_logged = now
            _log.info("rate.raised", new=round(self.current, 2), ceiling=self.policy.ceiling)

    def on_throttled(self) -> bool:
        """A throttled answer. Returns True when the rate was lowered."""
        now = self._clock()
        self._note(now, True)
        if now - self._last_decrease < self.policy.cooldown_s:
            return False
        throttled = self._throttled_in_window
        total = len(self._answers)
        if throttled < 2 or throttled <= self.policy.overload_share * total:
            return False
        # accepted answers per second of the whole window: early in a run this keeps the
        # server's initial burst allowance from passing for its sustained rate
        accepted = (total - throttled) / self.policy.window_s
        basis = min(self.current, accepted) if accepted > 0 else self.current
        old = self.current
        self.current = min(old, max(self.policy.floor, basis * self.policy.decrease_factor))
        self._last_decrease = now
        self._last_change = now
        self.decreases += 1
        _log.info("rate.lowered", old=round(old, 2), new=round(self.current, 2))
        return True


class Pacer:
    """Hands out send times `1/rate` apart to any number of concurrent workers.

    When the rate is lowered, slots already handed out at the old rate are void: their
    holders wake up, see a new `generation` and queue again at the new spacing, so a
    decrease takes effect at once instead of after `concurrency` more requests.
    """

    def __init__(self, rate: AdaptiveRate, clock: Clock, sleep: Sleep = asyncio.sleep) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._next = clock()
        self._hold_until = float("-inf")
        self._seen_decreases = rate.decreases
        self.generation = 0

    def _sync(self) -> None:
        if self._rate.decreases != self._seen_decreases:
            self._seen_decreases = self._rate.decreases
            self.generation += 1
            self._next = max(self._hold_until, self._clock() + 1.0 / self._rate.current)

    def reserve(self) -> float:
        """Reserve the next slot; returns how long the caller must wait for it."""
        self._sync()
        now = self._clock()
        slot = max(self._next, now - self._rate.policy.tolerance_s)
        self._next = slot + 1.0 / self._rate.current
        return slot - now

    def still_valid(self, generation: int) -> bool:
        """False when the rate was lowered since the slot of `generation` was reserved."""
        self._sync()
        return generation == self.generation

    def push_back(self, seconds: float) -> None:
        """Nobody sends for `seconds` from now (a Retry-After that applies to all)."""
        self._hold_until = max(self._hold_until, self._clock() + seconds)
        self._next = max(self._next, self._hold_until)

    async def acquire(self) -> None:
        while True:
            wait = self.reserve()
            generation = self.generation
            if wait > 0:
                await self._sleep(wait)
            if self.still_valid(generation) or wait <= 0:
                return
