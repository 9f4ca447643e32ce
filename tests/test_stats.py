"""batch_ims.stats (counters, nearest-rank percentiles) and the Summary built from them."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from batch_ims.errors import UsageError
from batch_ims.models import Status
from batch_ims.output.files import OutputFile
from batch_ims.output.summary import Summary, write_summary
from batch_ims.stats import RunStats


def _stats(latencies: list[float]) -> RunStats:
    stats = RunStats()
    for latency in latencies:
        stats.request_sent()
        stats.request_done("PATCH", latency)
    return stats


def test_percentiles_of_one_to_hundred_are_the_ranks() -> None:
    stats = _stats([float(v) for v in range(100, 0, -1)])

    assert stats.percentiles() == {"p50": 50.0, "p95": 95.0, "p99": 99.0}


def test_percentiles_use_nearest_rank_on_small_samples() -> None:
    stats = _stats([40.0, 10.0, 30.0, 20.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0])

    # rank = ceil(p/100 * 10): p50 -> 5th, p95 -> 10th, p99 -> 10th
    assert stats.percentiles() == {"p50": 50.0, "p95": 100.0, "p99": 100.0}


def test_percentiles_of_one_value_are_that_value() -> None:
    assert _stats([12.5]).percentiles() == {"p50": 12.5, "p95": 12.5, "p99": 12.5}


def test_percentiles_without_requests_are_zero() -> None:
    assert RunStats().percentiles() == {"p50": 0.0, "p95": 0.0, "p99": 0.0}


def test_percentiles_are_rounded_to_two_decimals() -> None:
    assert _stats([3.14159]).percentiles()["p50"] == 3.14


def test_request_done_counts_requests() -> None:
    assert _stats([1.0, 2.0, 3.0]).requests == 3


def test_requests_are_counted_by_method_and_in_total() -> None:
    stats = RunStats()
    for method in ("PATCH", "GET", "PATCH", "PATCH"):
        stats.request_done(method, 1.0)

    assert (stats.requests_by_method, stats.requests) == (Counter({"PATCH": 3, "GET": 1}), 4)


def test_request_done_keeps_the_last_server_date_seen() -> None:
    stats = RunStats()
    stats.request_done("PATCH", 1.0, "Fri, 15 Mar 2024 08:15:00 GMT")
    stats.request_done("PATCH", 1.0, "Fri, 15 Mar 2024 08:15:01 GMT")
    stats.request_done("PATCH", 1.0)  # no answer, no Date: the last one seen stays

    assert stats.server_date == "Fri, 15 Mar 2024 08:15:01 GMT"


def test_retries_and_throttles_are_counted_one_per_call() -> None:
    stats = RunStats()
    for _ in range(3):
        stats.retry_scheduled()
    stats.throttle_seen()

    assert (stats.retries, stats.throttled) == (3, 1)


def test_all_counts_lists_every_status_even_when_zero() -> None:
    stats = RunStats()
    stats.count(Status.SUCCEEDED)
    stats.count(Status.SUCCEEDED)
    stats.count(Status.FAILED)

    assert stats.all_counts() == {
        "succeeded": 2,
        "failed": 1,
        "invalid": 0,
        "skipped": 0,
        "aborted": 0,
        "drifted": 0,
    }


def _summary(stats: RunStats, duration_s: float) -> Summary:
    return Summary.build(
        stats=stats,
        duration_s=duration_s,
        exit_code=1,
        report=Path("out/r.csv"),
        images=7,
        rate_asked=10.0,
    )


def test_summary_json_has_the_documented_keys_and_values() -> None:
    stats = _stats([10.0, 20.0, 30.0])
    stats.request_sent()
    stats.request_sent()  # two in flight at once, the most of this run
    stats.request_done("GET", 40.0)
    stats.retry_scheduled()
    stats.retry_scheduled()
    stats.throttle_seen()
    stats.count(Status.SUCCEEDED)

    summary = _summary(stats, duration_s=2.0)

    assert summary.as_json() == {
        "counts": {
            "succeeded": 1,
            "failed": 0,
            "invalid": 0,
            "skipped": 0,
            "aborted": 0,
            "drifted": 0,
        },
        "images": 7,
        "requests": 4,
        "requests_by_method": {"GET": 1, "PATCH": 3},
        "retries": 2,
        "throttled": 1,
        "duration_s": 2.0,
        "rate_achieved": 2.0,
        "rate_asked": 10.0,
        "in_flight_peak": 2,
        "latency_ms": {"p50": 20.0, "p95": 40.0, "p99": 40.0},
        "exit_code": 1,
        "report": "out/r.csv",
        "hidden_rows_skipped": 0,
    }


def test_requests_in_flight_are_counted_and_their_peak_kept() -> None:
    stats = RunStats()
    for _ in range(3):
        stats.request_sent()
    stats.request_done("PATCH", 5.0)
    stats.request_sent()
    stats.request_done("PATCH", 5.0)

    assert (stats.in_flight, stats.in_flight_peak) == (2, 3)


def test_summary_rate_is_zero_for_a_zero_duration() -> None:
    assert _summary(_stats([1.0]), duration_s=0.0).rate_achieved == 0.0


def test_write_summary_writes_json_creating_folders(tmp_path: Path) -> None:
    path = tmp_path / "out" / "summary.json"
    summary = _summary(_stats([5.0]), duration_s=1.0)

    with OutputFile("--summary-json", path, overwrite=False) as out:
        write_summary(out, summary)

    assert json.loads(path.read_text(encoding="utf-8")) == summary.as_json()


def test_write_summary_to_an_unwritable_place_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")

    with pytest.raises(UsageError, match="--summary-json"):
        OutputFile("--summary-json", blocker / "summary.json", overwrite=False)


def test_a_cancelled_request_counts_as_sent_without_a_latency_and_leaves_flight() -> None:
    stats = RunStats()
    stats.request_sent()
    stats.request_done("PATCH", 40.0)
    stats.request_sent()

    stats.request_cancelled("PATCH")

    assert (stats.requests, dict(stats.requests_by_method)) == (2, {"PATCH": 2})
    assert (stats.in_flight, stats.in_flight_peak) == (0, 1)
    assert stats.percentiles() == {"p50": 40.0, "p95": 40.0, "p99": 40.0}
