"""batch_ims.run.session's request observer: which requests count toward the unreachable
stop (no answer: refused or silent), which never do (this machine out of descriptors), and
what feeds the in-flight limit."""

from __future__ import annotations

from dataclasses import dataclass

from structlog.testing import capture_logs
from yarl import URL

from batch_ims.run.session import _Observer
from batch_ims.run.stop import RunStop, StopReason
from batch_ims.stats import RunStats
from batch_ims.transport.client import OUT_OF_DESCRIPTORS, TransportError
from batch_ims.transport.inflight import InFlightLimit, InFlightPolicy
from tests.fakes import answer, stop_policy

ENDPOINT = URL("http://127.0.0.1:9/")
TIMEOUT = TransportError("timeout", "no answer within the timeout")


@dataclass
class _Rate:
    current: float = 100.0


def _observer(limit: int = 3) -> tuple[_Observer, RunStop, RunStats, InFlightLimit]:
    stop, stats = RunStop(stop_policy(unreachable_limit=limit)), RunStats()
    in_flight = InFlightLimit(InFlightPolicy(ceiling=256, ceiling_source="default"), _Rate())
    return _Observer(stats, stop, ENDPOINT, in_flight), stop, stats, in_flight


def _fail(observer: _Observer, error: TransportError, times: int) -> None:
    for _ in range(times):
        observer.request_sent()
        observer.request_done("PATCH", 500.0, error)


def test_timeouts_in_a_row_stop_the_run_as_unreachable_naming_the_host() -> None:
    observer, stop, _, _ = _observer(limit=3)

    with capture_logs() as logs:
        _fail(observer, TIMEOUT, 3)

    assert stop.reason is StopReason.UNREACHABLE
    assert stop.last_unreachable == "127.0.0.1: no answer within the timeout"
    unreachable = [log for log in logs if log["event"] == "run.unreachable"]
    assert [(log["host"], log["reason"]) for log in unreachable] == [
        ("127.0.0.1", "no answer within the timeout")
    ]


def test_an_answer_between_timeouts_breaks_the_streak() -> None:
    observer, stop, _, _ = _observer(limit=3)
    _fail(observer, TIMEOUT, 2)
    observer.request_sent()
    observer.request_done("PATCH", 80.0, answer(200))

    _fail(observer, TIMEOUT, 2)

    assert stop.stopping is False


def test_running_out_of_descriptors_never_counts_as_an_unreachable_endpoint() -> None:
    observer, stop, stats, _ = _observer(limit=3)
    local = TransportError(OUT_OF_DESCRIPTORS, "OSError: [Errno 24] Too many open files")

    _fail(observer, TIMEOUT, 2)
    _fail(observer, local, 20)  # neither counted nor breaking the streak

    assert stop.stopping is False
    assert stats.requests == 22
    _fail(observer, TIMEOUT, 1)
    assert stop.reason is StopReason.UNREACHABLE


def test_only_answered_requests_teach_the_in_flight_limit_their_latency() -> None:
    observer, _, stats, in_flight = _observer(limit=100)

    _fail(observer, TIMEOUT, 5)
    before = in_flight.latency_s
    observer.request_sent()
    observer.request_done("PATCH", 250.0, answer(404, "IMG.0027"))

    assert before == in_flight.policy.initial_latency_s
    assert in_flight.answers == 1
    assert in_flight.latency_s < before
    assert (stats.in_flight, stats.in_flight_peak) == (0, 1)
