"""batch_ims.run.stop: the failure threshold, the auth and unreachable streaks, the first stop
reason, pausing, and the exit code each reason gives."""

from __future__ import annotations

import asyncio

import pytest

from batch_ims.exitcodes import ExitCode
from batch_ims.models import Outcome, Status
from batch_ims.run.stop import RunStop, SignalEffect, StopReason
from batch_ims.stats import RunStats
from tests.fakes import stop_policy

_policy = stop_policy


def _outcome(status: Status, image_id: str = "img") -> Outcome:
    return Outcome(image_id=image_id, status=status, rows=(2,), ops=())


def _observe(stop: RunStop, status: Status, times: int) -> list[StopReason | None]:
    return [stop.observe(_outcome(status), auth_failure=False) for _ in range(times)]


def test_failures_do_not_stop_before_min_finished() -> None:
    stop = RunStop(_policy(max_failure_rate=0.5, min_finished=10))

    reasons = _observe(stop, Status.FAILED, 9)

    assert reasons == [None] * 9
    assert stop.stopping is False


def test_failure_threshold_stops_once_min_finished_is_reached() -> None:
    stop = RunStop(_policy(max_failure_rate=0.5, min_finished=10))
    _observe(stop, Status.FAILED, 9)

    reason = stop.observe(_outcome(Status.FAILED), auth_failure=False)

    assert reason is StopReason.FAILURE_THRESHOLD
    assert stop.reason is StopReason.FAILURE_THRESHOLD


def test_failure_rate_exactly_at_threshold_does_not_stop() -> None:
    stop = RunStop(_policy(max_failure_rate=0.5, min_finished=10))
    _observe(stop, Status.SUCCEEDED, 5)

    reasons = _observe(stop, Status.FAILED, 5)  # 5/10 = 0.5, not above

    assert reasons == [None] * 5
    assert stop.stopping is False


def test_failure_rate_just_above_threshold_stops() -> None:
    stop = RunStop(_policy(max_failure_rate=0.5, min_finished=10))
    _observe(stop, Status.SUCCEEDED, 5)
    _observe(stop, Status.FAILED, 5)

    reason = stop.observe(_outcome(Status.FAILED), auth_failure=False)  # 6/11

    assert reason is StopReason.FAILURE_THRESHOLD


def test_aborted_invalid_and_skipped_are_not_counted_as_finished() -> None:
    stop = RunStop(_policy(max_failure_rate=0.5, min_finished=2))
    for status in (Status.ABORTED, Status.INVALID, Status.SKIPPED):
        stop.observe(_outcome(status), auth_failure=False)

    assert (stop.finished, stop.failed) == (0, 0)


def test_auth_failures_stop_after_limit_in_a_row() -> None:
    stop = RunStop(_policy(auth_failure_limit=3, min_finished=1000))

    reasons = [stop.observe(_outcome(Status.FAILED), auth_failure=True) for _ in range(3)]

    assert reasons == [None, None, StopReason.AUTH]
    assert stop.reason is StopReason.AUTH


def test_auth_streak_resets_on_success() -> None:
    stop = RunStop(_policy(auth_failure_limit=3, min_finished=1000))
    for _ in range(2):
        stop.observe(_outcome(Status.FAILED), auth_failure=True)
    stop.observe(_outcome(Status.SUCCEEDED), auth_failure=False)

    reasons = [stop.observe(_outcome(Status.FAILED), auth_failure=True) for _ in range(2)]

    assert reasons == [None, None]
    assert stop.stopping is False
    assert stop.observe(_outcome(Status.FAILED), auth_failure=True) is StopReason.AUTH


def test_last_auth_failure_is_kept_for_the_message() -> None:
    stop = RunStop(_policy())
    last = _outcome(Status.FAILED, "second")
    stop.observe(_outcome(Status.FAILED, "first"), auth_failure=True)
    stop.observe(last, auth_failure=True)

    assert stop.last_auth_failure is last


def test_first_stop_reason_wins() -> None:
    stop = RunStop(_policy())

    first = stop.stop(StopReason.SIGINT)
    second = stop.stop(StopReason.SIGTERM)

    assert (first, second) == (True, False)
    assert stop.reason is StopReason.SIGINT


def test_threshold_after_a_signal_keeps_the_signal_as_reason() -> None:
    stop = RunStop(_policy(max_failure_rate=0.5, min_finished=1))
    stop.stop(StopReason.SIGTERM)

    reason = stop.observe(_outcome(Status.FAILED), auth_failure=False)

    assert reason is None
    assert stop.reason is StopReason.SIGTERM


def test_any_other_answer_between_auth_failures_breaks_the_streak() -> None:
    stop = RunStop(_policy(auth_failure_limit=3))
    for _ in range(2):
        stop.observe(_outcome(Status.FAILED), auth_failure=True)
    stop.observe(_outcome(Status.FAILED), auth_failure=False)  # e.g. a 404
    reasons = [stop.observe(_outcome(Status.FAILED), auth_failure=True) for _ in range(2)]

    assert reasons == [None, None]
    assert stop.reason is None


def test_a_later_reason_changes_neither_the_reason_nor_the_exit_code() -> None:
    stop = RunStop(_policy())
    stop.stop(StopReason.AUTH)

    stop.stop(StopReason.SIGINT)
    stop.stop(StopReason.UNREACHABLE)

    assert stop.reason is StopReason.AUTH
    assert stop.exit_code(RunStats()) is ExitCode.ABORTED


# --- pause and wait ------------------------------------------------------------------------


async def test_pause_returns_false_when_its_time_passes_without_a_stop() -> None:
    stop = RunStop(_policy())

    assert await stop.pause(0.0) is False


async def test_pause_returns_true_at_once_when_already_stopping() -> None:
    stop = RunStop(_policy())
    stop.stop(StopReason.SIGINT)

    async with asyncio.timeout(1.0):
        assert await stop.pause(3600.0) is True


async def test_pause_wakes_early_when_the_run_stops() -> None:
    stop = RunStop(_policy())
    pause = asyncio.create_task(stop.pause(3600.0))
    await asyncio.sleep(0)
    assert pause.done() is False

    stop.stop(StopReason.SIGTERM)

    async with asyncio.timeout(1.0):
        assert await pause is True


async def test_wait_returns_once_the_run_stops() -> None:
    stop = RunStop(_policy())
    waiting = asyncio.create_task(stop.wait())
    await asyncio.sleep(0)
    assert waiting.done() is False

    stop.stop(StopReason.FAILURE_THRESHOLD)

    async with asyncio.timeout(1.0):
        await waiting


# --- request_ended: an endpoint that never answers -----------------------------------------


def test_unreachable_limit_requests_in_a_row_that_cannot_connect_stop_the_run() -> None:
    stop = RunStop(_policy(unreachable_limit=3))

    stopped = [stop.request_ended(answered=False, detail=f"refused {i}") for i in range(3)]

    assert stopped == [False, False, True]
    assert stop.reason is StopReason.UNREACHABLE
    assert stop.last_unreachable == "refused 2"


def test_a_connected_request_resets_the_unreachable_streak() -> None:
    stop = RunStop(_policy(unreachable_limit=3))
    for _ in range(2):
        stop.request_ended(answered=False, detail="refused")
    stop.request_ended(answered=True)

    stopped = [stop.request_ended(answered=False, detail="refused") for _ in range(2)]

    assert stopped == [False, False]
    assert stop.stopping is False
    assert stop.request_ended(answered=False, detail="refused") is True


def test_unreachable_streak_after_another_stop_keeps_the_first_reason() -> None:
    stop = RunStop(_policy(unreachable_limit=1))
    stop.stop(StopReason.SIGINT)

    stopped = stop.request_ended(answered=False, detail="refused")

    assert stopped is False
    assert stop.reason is StopReason.SIGINT


# --- exit codes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (StopReason.SIGINT, 130),
        (StopReason.SIGTERM, 143),
        (StopReason.FAILURE_THRESHOLD, 3),
        (StopReason.AUTH, 3),
        (StopReason.UNREACHABLE, 4),
    ],
)
def test_exit_code_of_each_stop_reason(reason: StopReason, code: int) -> None:
    stop = RunStop(_policy())
    stop.stop(reason)
    stats = RunStats()
    stats.count(Status.FAILED)  # the stop reason wins over failed images

    assert int(stop.exit_code(stats)) == code


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ((Status.SUCCEEDED, Status.FAILED), 1),
        ((Status.SUCCEEDED, Status.INVALID), 1),
        ((Status.SUCCEEDED, Status.SKIPPED), 0),
        ((), 0),
    ],
)
def test_exit_code_without_a_stop_is_1_with_failed_or_invalid_images_else_0(
    statuses: tuple[Status, ...], code: int
) -> None:
    stop = RunStop(_policy())
    stats = RunStats()
    for status in statuses:
        stats.count(status)

    assert int(stop.exit_code(stats)) == code


# --- signals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "gap_s", "expected"),
    [
        (StopReason.SIGTERM, StopReason.SIGTERM, 0.002, SignalEffect.SAME),  # process, then group
        (StopReason.SIGTERM, StopReason.SIGTERM, 0.999, SignalEffect.SAME),
        (StopReason.SIGTERM, StopReason.SIGTERM, 1.0, SignalEffect.CANCEL),
        (StopReason.SIGTERM, StopReason.SIGTERM, 30.0, SignalEffect.CANCEL),
        (StopReason.SIGINT, StopReason.SIGINT, 0.002, SignalEffect.CANCEL),  # Ctrl-C twice
        (StopReason.SIGTERM, StopReason.SIGINT, 0.002, SignalEffect.CANCEL),
        (StopReason.SIGINT, StopReason.SIGTERM, 0.002, SignalEffect.CANCEL),
    ],
)
def test_a_repeated_signal_escalates_unless_it_is_a_sigterm_within_a_second_of_the_first(
    first: StopReason, second: StopReason, gap_s: float, expected: SignalEffect
) -> None:
    stop = RunStop(_policy())

    effects = [stop.signalled(first, 500.0), stop.signalled(second, 500.0 + gap_s)]

    assert effects == [SignalEffect.STOP, expected]
    assert stop.reason is first


def test_the_window_counts_from_the_first_sigterm_not_the_last() -> None:
    stop = RunStop(_policy())

    effects = [stop.signalled(StopReason.SIGTERM, t) for t in (10.0, 10.6, 11.2)]

    assert effects == [SignalEffect.STOP, SignalEffect.SAME, SignalEffect.CANCEL]


def test_a_first_signal_during_another_stop_joins_it_and_keeps_its_exit_code() -> None:
    stop = RunStop(_policy())
    stop.stop(StopReason.FAILURE_THRESHOLD)

    effect = stop.signalled(StopReason.SIGTERM, 1.0)

    assert (effect, stop.exit_code(RunStats())) == (SignalEffect.STOP, ExitCode.ABORTED)
