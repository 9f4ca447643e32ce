"""batch_ims.transport.ratelimit: pacing, the adaptive rate, and a simulated throttling server."""

from __future__ import annotations

import bisect
import heapq
import math
import random
from dataclasses import dataclass

import pytest

from batch_ims.transport.ratelimit import AdaptiveRate, Pacer, RatePolicy
from batch_ims.transport.retry import RetryPolicy


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _pacer(rate: float, clock: FakeClock, **policy: float) -> Pacer:
    return Pacer(AdaptiveRate(RatePolicy(ceiling=rate, **policy), clock), clock)


def _max_in_one_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max(bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered))


# --- Pacer -------------------------------------------------------------------------------


def test_pacer_spaces_reservations_exactly_one_over_rate_apart() -> None:
    clock = FakeClock(100.0)
    pacer = _pacer(20.0, clock)

    waits = [pacer.reserve() for _ in range(6)]

    assert waits == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20, 0.25], abs=1e-9)


def test_pacer_follows_the_current_rate_for_the_next_gap() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(RatePolicy(ceiling=10.0), clock)
    pacer = Pacer(rate, clock)
    pacer.reserve()  # slot 0.0, next 0.1
    rate.current = 4.0

    waits = [pacer.reserve(), pacer.reserve()]

    assert waits == pytest.approx([0.1, 0.35], abs=1e-9)


@pytest.mark.parametrize(
    ("workers", "max_latency"),
    [(16, 0.3), (4, 0.1)],  # always someone waiting; often everyone late
)
def test_no_one_second_window_holds_more_than_rate_plus_two_percent(
    workers: int, max_latency: float
) -> None:
    """Workers with random answer times and late wake-ups share one pacer."""
    rate, count = 50.0, 3000
    clock = FakeClock()
    pacer = _pacer(rate, clock)
    rng = random.Random(7)
    ready = [(rng.random() * 0.01, worker) for worker in range(workers)]
    heapq.heapify(ready)
    sent: list[float] = []
    while len(sent) < count:
        now, worker = heapq.heappop(ready)
        clock.now = now
        wait = pacer.reserve()
        send_at = now + max(wait, 0.0) + rng.random() * 0.003  # the event loop wakes late
        sent.append(send_at)
        heapq.heappush(ready, (send_at + rng.uniform(0.0, max_latency), worker))

    achieved = (count - 1) / (max(sent) - min(sent))
    assert _max_in_one_second(sent) <= rate * 1.02
    assert achieved == pytest.approx(rate, rel=0.02)


def test_late_caller_catches_up_by_tolerance_only() -> None:
    clock = FakeClock()
    pacer = _pacer(10.0, clock, tolerance_s=0.005)
    pacer.reserve()  # slot 0.0; the next is due at 0.1
    clock.now = 0.5  # the caller is 0.4 s late

    late = pacer.reserve()
    following = pacer.reserve()

    assert late == pytest.approx(-0.005, abs=1e-9)
    assert following == pytest.approx(0.095, abs=1e-9)


def test_caller_late_within_tolerance_keeps_the_schedule() -> None:
    clock = FakeClock()
    pacer = _pacer(10.0, clock, tolerance_s=0.005)
    pacer.reserve()  # slot 0.0; the next is due at 0.1
    clock.now = 0.103

    late = pacer.reserve()
    following = pacer.reserve()

    assert late == pytest.approx(-0.003, abs=1e-9)
    assert following == pytest.approx(0.097, abs=1e-9)  # slot 0.2, as if nobody was late


def test_after_idle_time_reservations_do_not_burst() -> None:
    clock = FakeClock()
    pacer = _pacer(10.0, clock, tolerance_s=0.005)
    pacer.reserve()
    clock.now = 60.0

    waits = [pacer.reserve() for _ in range(4)]

    assert waits == pytest.approx([-0.005, 0.095, 0.195, 0.295], abs=1e-9)


def test_push_back_delays_every_next_reservation() -> None:
    clock = FakeClock()
    pacer = _pacer(10.0, clock)
    pacer.reserve()

    pacer.push_back(2.0)

    assert pacer.reserve() == pytest.approx(2.0)
    assert pacer.reserve() == pytest.approx(2.1)


async def test_acquire_sleeps_exactly_the_reserved_wait() -> None:
    clock = FakeClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    pacer = Pacer(AdaptiveRate(RatePolicy(ceiling=4.0), clock), clock, sleep)

    for _ in range(3):
        await pacer.acquire()

    assert slept == pytest.approx([0.25, 0.5])


# --- AdaptiveRate -------------------------------------------------------------------------


def _accept_at(rate: AdaptiveRate, clock: FakeClock, times: list[float]) -> None:
    for t in times:
        clock.now = t
        rate.on_accepted()


def _overload(rate: AdaptiveRate) -> bool:
    """Two throttles in a row: the smallest overload that lowers the rate."""
    rate.on_throttled()
    return rate.on_throttled()


def test_throttle_lowers_rate_once_throttles_exceed_the_overload_share() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(RatePolicy(ceiling=400.0, decrease_factor=0.9), clock)
    _accept_at(rate, clock, [i / 100 for i in range(1, 201)])  # 100/s for 2 s
    clock.now = 2.005

    lowered = [rate.on_throttled() for _ in range(12)]

    # 100 accepted in the last second: the 12th throttle is the first above 10% of answers
    assert lowered == [False] * 11 + [True]
    assert rate.current == pytest.approx(90.0)
    assert rate.decreases == 1


def test_a_lone_throttle_among_clean_answers_is_noise() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(RatePolicy(ceiling=400.0), clock)
    _accept_at(rate, clock, [i / 100 for i in range(1, 101)])

    assert rate.on_throttled() is False
    assert rate.current == 400.0


def test_five_percent_random_throttles_never_lower_the_rate() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(RatePolicy(ceiling=200.0), clock)
    rng = random.Random(7)
    for i in range(1, 200 * 30):  # 30 s at 200 answers/s, 5% of them IMG.0060
        clock.now = i / 200
        if rng.random() < 0.05:
            rate.on_throttled()
        else:
            rate.on_accepted()

    assert rate.decreases == 0
    assert rate.current == 200.0


def test_throttle_without_accepted_answers_lowers_the_current_rate() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(RatePolicy(ceiling=50.0, decrease_factor=0.8), clock)
    clock.now = 0.5

    _overload(rate)

    assert rate.current == pytest.approx(40.0)


def test_throttles_within_cooldown_are_ignored() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(RatePolicy(ceiling=100.0, cooldown_s=1.0), clock)
    clock.now = 5.0
    assert _overload(rate) is True
    after_first = rate.current

    results = []
    for t in (5.2, 5.5, 5.999):
        clock.now = t
        results.append(rate.on_throttled())

    assert results == [False, False, False]
    assert rate.current == after_first
    assert rate.decreases == 1
    clock.now = 6.0
    assert rate.on_throttled() is True
    assert rate.current < after_first


def test_clean_answers_climb_at_increase_per_second() -> None:
    clock = FakeClock()
    policy = RatePolicy(ceiling=100.0, decrease_factor=0.9, increase_per_s=0.05)
    rate = AdaptiveRate(policy, clock)
    _overload(rate)  # 100 -> 90 at t=0

    currents = []
    for t in (1.0, 2.0, 3.0):
        clock.now = t
        rate.on_accepted()
        currents.append(rate.current)

    assert currents == pytest.approx([94.5, 99.225, 100.0])


def test_frequent_clean_answers_climb_about_five_percent_a_second() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(RatePolicy(ceiling=1000.0, increase_per_s=0.05), clock)
    clock.now = 10.0
    _overload(rate)  # nothing accepted yet: 1000 -> 900
    start = rate.current

    _accept_at(rate, clock, [10.0 + i / 100 for i in range(1, 101)])

    assert rate.current == pytest.approx(start * math.exp(0.05), rel=1e-3)


def test_slow_rates_climb_by_at_least_min_increase_per_second() -> None:
    clock = FakeClock()
    policy = RatePolicy(ceiling=100.0, decrease_factor=0.01, min_increase_per_s=0.5)
    rate = AdaptiveRate(policy, clock)
    _overload(rate)  # 100 -> 1
    clock.now = 2.0

    rate.on_accepted()

    assert rate.current == pytest.approx(2.0)


def test_rate_never_exceeds_ceiling() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(RatePolicy(ceiling=30.0), clock)
    _overload(rate)
    seen = []
    for i in range(1, 6001):
        clock.now = i / 100
        rate.on_accepted()
        seen.append(rate.current)

    assert max(seen) == 30.0
    assert rate.current == 30.0


def test_rate_never_goes_below_floor() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(RatePolicy(ceiling=100.0, floor=2.5, cooldown_s=1.0), clock)
    seen = []
    for second in range(1, 80):
        clock.now = float(second)
        _overload(rate)
        seen.append(rate.current)

    assert min(seen) == 2.5
    assert rate.current == 2.5


def test_non_positive_ceiling_is_refused() -> None:
    with pytest.raises(ValueError, match="ceiling"):
        AdaptiveRate(RatePolicy(ceiling=0.0), FakeClock())


# --- Simulation against a throttling server -----------------------------------------------


class _TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._last = 0.0

    def take(self, now: float) -> bool:
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass(frozen=True, slots=True)
class _SimResult:
    accepted: int
    throttled: int


def _simulate(*, told: float, capacity: float, workers: int, duration: float) -> _SimResult:
    """Workers behave as the exchange loop does: pace (Pacer.acquire), send, on a throttle
    back off and retry.

    Events run in time order on one fake clock: `ready` (reserve a slot), `arrive` (the
    server takes a token), `answer` (the client counts it).
    """
    clock = FakeClock()
    rate = AdaptiveRate(RatePolicy(ceiling=told), clock)
    pacer = Pacer(rate, clock)
    server = _TokenBucket(capacity, burst=capacity)  # like the emulator: one second's worth
    retry = RetryPolicy(max_attempts=5)
    rng = random.Random(1)
    latency = 0.02
    events: list[tuple[float, int, str, int, int]] = []
    order = 0

    def push(at: float, kind: str, attempt: int, generation: int = -1) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, kind, attempt, generation))

    for _ in range(workers):
        push(0.0, "ready", 1)
    accepted = throttled = 0
    while events:
        at, _, kind, attempt, generation = heapq.heappop(events)
        if at > duration:
            break
        clock.now = at
        if kind == "ready":
            wait = pacer.reserve()
            push(at + max(wait, 0.0), "arrive", attempt, pacer.generation if wait > 0 else -1)
        elif kind == "arrive":
            if generation >= 0 and not pacer.still_valid(generation):
                push(at, "ready", attempt)  # the slot was voided by a decrease: queue again
                continue
            push(at + latency, "ok" if server.take(at) else "throttled", attempt)
        elif kind == "ok":
            accepted += 1
            rate.on_accepted()
            push(at, "ready", 1)
        else:
            throttled += 1
            rate.on_throttled()
            if retry.should_retry(attempt=attempt, retryable=True):
                delay = retry.delay(attempt=attempt, retry_after_s=None, rand=rng.random)
                push(at + delay, "ready", attempt + 1)
            else:
                push(at, "ready", 1)
    return _SimResult(accepted, throttled)


@pytest.mark.parametrize("workers", [8, 64])
def test_client_told_400_per_s_settles_near_a_100_per_s_server(workers: int) -> None:
    duration = 15.0

    result = _simulate(told=400.0, capacity=100.0, workers=workers, duration=duration)

    throttled_share = result.throttled / (result.accepted + result.throttled)
    assert result.accepted / duration > 85.0
    assert throttled_share < 0.10


def test_retry_after_survives_a_rate_decrease_by_the_same_throttle() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(RatePolicy(ceiling=100.0), clock)
    pacer = Pacer(rate, clock)
    pacer.reserve()
    _overload(rate)  # the throttle that lowered the rate ...
    pacer.push_back(100.0)  # ... also said Retry-After: 100

    assert pacer.reserve() == pytest.approx(100.0)
