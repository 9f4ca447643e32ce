"""batch_ims.run.stop: the failure threshold, the auth streak, the first stop reason."""

from __future__ import annotations

from batch_ims.run.stop import RunControl, StopPolicy, StopReason
from batch_ims.models import Outcome, Status


def _outcome(status: Status, image_id: str = "img") -> Outcome:
    return Outcome(image_id=image_id, status=status, rows=(2,), ops=())


def _observe(control: RunControl, status: Status, times: int) -> list[StopReason | None]:
    return [control.observe(_outcome(status), auth_failure=False) for _ in range(times)]


def test_failures_do_not_stop_before_min_finished() -> None:
    control = RunControl(StopPolicy(max_failure_rate=0.5, min_finished=10))

    reasons = _observe(control, Status.FAILED, 9)

    assert reasons == [None] * 9
    assert control.stopping is False


def test_failure_threshold_stops_once_min_finished_is_reached() -> None:
    control = RunControl(StopPolicy(max_failure_rate=0.5, min_finished=10))
    _observe(control, Status.FAILED, 9)

    reason = control.observe(_outcome(Status.FAILED), auth_failure=False)

    assert reason is StopReason.FAILURE_THRESHOLD
    assert control.reason is StopReason.FAILURE_THRESHOLD


def test_failure_rate_exactly_at_threshold_does_not_stop() -> None:
    control = RunControl(StopPolicy(max_failure_rate=0.5, min_finished=10))
    _observe(control, Status.SUCCEEDED, 5)

    reasons = _observe(control, Status.FAILED, 5)  # 5/10 = 0.5, not above

    assert reasons == [None] * 5
    assert control.stopping is False


def test_failure_rate_just_above_threshold_stops() -> None:
    control = RunControl(StopPolicy(max_failure_rate=0.5, min_finished=10))
    _observe(control, Status.SUCCEEDED, 5)
    _observe(control, Status.FAILED, 5)

    reason = control.observe(_outcome(Status.FAILED), auth_failure=False)  # 6/11

    assert reason is StopReason.FAILURE_THRESHOLD


def test_aborted_invalid_and_skipped_are_not_counted_as_finished() -> None:
    control = RunControl(StopPolicy(max_failure_rate=0.5, min_finished=2))
    for status in (Status.ABORTED, Status.INVALID, Status.SKIPPED):
        control.observe(_outcome(status), auth_failure=False)

    assert (control.finished, control.failed) == (0, 0)


def test_auth_failures_stop_after_limit_in_a_row() -> None:
    control = RunControl(StopPolicy(auth_failure_limit=3, min_finished=1000))

    reasons = [control.observe(_outcome(Status.FAILED), auth_failure=True) for _ in range(3)]

    assert reasons == [None, None, StopReason.AUTH]
    assert control.reason is StopReason.AUTH


def test_auth_streak_resets_on_success() -> None:
    control = RunControl(StopPolicy(auth_failure_limit=3, min_finished=1000))
    for _ in range(2):
        control.observe(_outcome(Status.FAILED), auth_failure=True)
    control.observe(_outcome(Status.SUCCEEDED), auth_failure=False)

    reasons = [control.observe(_outcome(Status.FAILED), auth_failure=True) for _ in range(2)]

    assert reasons == [None, None]
    assert control.stopping is False
    assert control.observe(_outcome(Status.FAILED), auth_failure=True) is StopReason.AUTH


def test_last_auth_failure_is_kept_for_the_message() -> None:
    control = RunControl(StopPolicy())
    last = _outcome(Status.FAILED, "second")
    control.observe(_outcome(Status.FAILED, "first"), auth_failure=True)
    control.observe(last, auth_failure=True)

    assert control.last_auth_failure is last


def test_first_stop_reason_wins() -> None:
    control = RunControl(StopPolicy())

    first = control.stop(StopReason.SIGINT)
    second = control.stop(StopReason.SIGTERM)

    assert (first, second) == (True, False)
    assert control.reason is StopReason.SIGINT


def test_threshold_after_a_signal_keeps_the_signal_as_reason() -> None:
    control = RunControl(StopPolicy(max_failure_rate=0.5, min_finished=1))
    control.stop(StopReason.SIGTERM)

    reason = control.observe(_outcome(Status.FAILED), auth_failure=False)

    assert reason is None
    assert control.reason is StopReason.SIGTERM


def test_any_other_answer_between_auth_failures_breaks_the_streak() -> None:
    control = RunControl(StopPolicy(auth_failure_limit=3))
    for _ in range(2):
        control.observe(_outcome(Status.FAILED), auth_failure=True)
    control.observe(_outcome(Status.FAILED), auth_failure=False)  # e.g. a 404
    reasons = [control.observe(_outcome(Status.FAILED), auth_failure=True) for _ in range(2)]

    assert reasons == [None, None]
    assert control.reason is None
