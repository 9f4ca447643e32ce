"""batch_ims.transport.inflight: Little's law from the measured latency, within a ceiling,
and one warning when the ceiling is what holds the rate down. No clock, no network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from structlog.testing import capture_logs

from batch_ims.transport.inflight import InFlightLimit, InFlightPolicy, needed, reachable_rate


@dataclass
class _Rate:
    current: float


def _policy(ceiling: int = 256, source: str = "default", **knobs: Any) -> InFlightPolicy:
    return InFlightPolicy(ceiling=ceiling, ceiling_source=source, **knobs)


def _feed(limit: InFlightLimit, latency_s: float, times: int) -> None:
    for _ in range(times):
        limit.answered(latency_s)


def test_needed_is_rate_times_latency_with_headroom_and_spare() -> None:
    policy = _policy(headroom=1.5, spare=2)

    assert needed(100.0, 0.25, policy) == 40  # 37.5 rounded up, plus 2
    assert needed(10.0, 0.005, policy) == 3  # a fast endpoint: the spare workers
    assert reachable_rate(8, 0.3) == pytest.approx(26.67, abs=0.01)


def test_before_any_answer_the_limit_assumes_the_initial_latency() -> None:
    limit = InFlightLimit(_policy(initial_latency_s=1.0), _Rate(100.0))

    assert limit.target == 152


def test_the_limit_follows_the_measured_latency_down_and_up() -> None:
    limit = InFlightLimit(_policy(smoothing=0.1), _Rate(100.0))

    _feed(limit, 0.25, 200)
    at_250_ms = limit.target
    _feed(limit, 1.0, 200)

    assert at_250_ms == needed(100.0, 0.25, limit.policy)
    assert limit.target == needed(100.0, 1.0, limit.policy)


def test_a_backoff_holds_the_worker_as_a_longer_request_would() -> None:
    backing_off = InFlightLimit(_policy(smoothing=0.1), _Rate(100.0))
    slower = InFlightLimit(_policy(smoothing=0.1), _Rate(100.0))
    _feed(backing_off, 0.05, 100)
    _feed(slower, 0.05, 100)

    backing_off.answered(0.05)
    backing_off.held(0.45)  # then waits 0.45 s before its retry
    slower.answered(0.5)

    assert backing_off.latency_s == pytest.approx(slower.latency_s)
    assert backing_off.target == slower.target > needed(100.0, 0.05, backing_off.policy)


def test_a_lowered_rate_needs_fewer_in_flight() -> None:
    rate = _Rate(100.0)
    limit = InFlightLimit(_policy(smoothing=1.0), rate)
    limit.answered(0.5)
    before = limit.target

    rate.current = 20.0
    limit.answered(0.5)

    assert (before, limit.target) == (77, 17)


def test_the_ceiling_caps_the_limit() -> None:
    limit = InFlightLimit(_policy(ceiling=32, smoothing=1.0), _Rate(1000.0))

    limit.answered(0.5)

    assert limit.target == 32


def test_a_ceiling_that_holds_the_rate_down_is_reported_once_with_the_figure_that_reaches_it() -> (
    None
):
    limit = InFlightLimit(
        _policy(ceiling=8, source="--concurrency", smoothing=1.0, warm_up=5), _Rate(100.0)
    )

    with capture_logs() as logs:
        _feed(limit, 0.3, 20)

    warnings = [log for log in logs if log["event"] == "concurrency.limiting"]
    assert warnings == [
        {
            "event": "concurrency.limiting",
            "log_level": "warning",
            "concurrency": 8,
            "ceiling_source": "--concurrency",
            "rate": 100.0,
            "reachable_rate": 26.67,
            "latency_ms": 300.0,
            "concurrency_needed": 47,
        }
    ]


def test_no_report_before_the_warm_up_nor_while_the_ceiling_still_reaches_the_rate() -> None:
    early = InFlightLimit(_policy(ceiling=8, smoothing=1.0, warm_up=50), _Rate(100.0))
    roomy = InFlightLimit(_policy(ceiling=30, smoothing=1.0, warm_up=1), _Rate(100.0))

    with capture_logs() as logs:
        _feed(early, 0.3, 49)  # binds, but not yet measured well enough
        _feed(roomy, 0.25, 100)  # 30 < 40 with headroom, yet 30 / 0.25 s = 120/s >= 100/s

    assert [log["event"] for log in logs] == []
    assert (early.target, roomy.target) == (8, 30)


def test_a_ceiling_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        InFlightLimit(_policy(ceiling=0), _Rate(10.0))
