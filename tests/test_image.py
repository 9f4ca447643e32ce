"""batch_ims.run.image.ImageStep: how exchanges become outcomes (no network: a fake client).

The step runs over a real Exchanger whose client answers from a queue (tests/fakes.py); the
step's clock is the same fake clock, so durations are exact.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from batch_ims.models import ImageTask, Op, Status, ops_digest, ops_json
from batch_ims.run.image import ImageStep
from batch_ims.transport.client import HttpResult, TransportError
from batch_ims.transport.exchange import AttemptCount
from tests.fakes import IMAGE_ID, LATENCY_S, SERVICE, Answer, ExchangeHarness, answer

TASK = ImageTask(
    IMAGE_ID, (Op("replace", "/name", "web-02"), Op("replace", "/min_disk", "40")), (2, 3)
)
BEFORE = {"id": IMAGE_ID, "name": "web-01", "min_disk": 20}
AFTER = {"id": IMAGE_ID, "name": "web-02", "min_disk": 40}
LOST_THEN_APPLIED = "answer to an earlier attempt was lost; GET shows the change applied"
APPLIED_AFTER_LOST = "applied after a lost answer (add/replace are idempotent)"


def _image(image: dict[str, Any], *, request_id: str = "req-ok") -> HttpResult:
    return answer(200, request_id=request_id, body=json.dumps(image).encode())


def _listing(image: dict[str, Any]) -> HttpResult:
    return answer(200, request_id="req-get", body=json.dumps({"images": [image]}).encode())


def _lost() -> TransportError:
    return TransportError("connection_error", "ServerDisconnectedError")


def _step(
    answers: list[Answer], *, verify: bool = True, **harness: Any
) -> tuple[ImageStep, ExchangeHarness]:
    made = ExchangeHarness(answers, **harness)
    step = ImageStep(exchanger=made.exchanger, service=SERVICE, verify=verify, clock=made.clock)
    return step, made


def _methods(harness: ExchangeHarness) -> list[str]:
    return [method for method, _ in harness.client.sent]


# --- success and verification ----------------------------------------------------------------


async def test_patch_answer_showing_the_values_succeeds_with_the_patch_details() -> None:
    step, harness = _step([_image(AFTER, request_id="req-7")])

    finished = await step.patch(TASK, AttemptCount())

    outcome = finished.outcome
    assert (outcome.status, outcome.http_status, outcome.request_id) == (
        Status.SUCCEEDED,
        200,
        "req-7",
    )
    assert (outcome.attempts, outcome.note, outcome.error_code) == (1, "", "")
    assert (outcome.rows, outcome.ops) == (TASK.rows, TASK.ops)
    assert outcome.duration_ms == int(LATENCY_S * 1000)
    assert harness.client.sent == [("PATCH", ops_json(TASK.ops).encode("utf-8"))]


async def test_verify_mismatch_fails_naming_the_attributes_that_differ() -> None:
    step, _ = _step([_image({**AFTER, "min_disk": 20})])

    finished = await step.patch(TASK, AttemptCount())

    outcome = finished.outcome
    assert (outcome.status, outcome.error_code, outcome.http_status) == (
        Status.FAILED,
        "verify_mismatch",
        200,
    )
    assert outcome.error_message == "answer differs from the intended values for: min_disk"
    assert finished.may_have_applied is True  # the PATCH was accepted


async def test_verify_of_an_unreadable_answer_fails_as_a_mismatch() -> None:
    step, _ = _step([answer(200, body=b"<html>ok</html>")])

    finished = await step.patch(TASK, AttemptCount())

    assert (finished.outcome.status, finished.outcome.error_message) == (
        Status.FAILED,
        "answer differs from the intended values for: (unreadable answer)",
    )


async def test_without_verify_a_differing_answer_still_succeeds() -> None:
    step, _ = _step([_image(BEFORE)], verify=False)

    finished = await step.patch(TASK, AttemptCount())

    assert finished.outcome.status is Status.SUCCEEDED


async def test_success_after_a_lost_answer_says_so_in_the_note() -> None:
    step, _ = _step([_lost(), _image(AFTER)])

    finished = await step.patch(TASK, AttemptCount())

    assert (finished.outcome.status, finished.outcome.attempts, finished.outcome.note) == (
        Status.SUCCEEDED,
        2,
        APPLIED_AFTER_LOST,
    )


async def test_patch_of_fewer_ops_sends_those_and_keeps_the_manifest_digest() -> None:
    ops = (Op("replace", "/min_disk", "40"),)
    step, harness = _step([_image(AFTER)])

    finished = await step.patch(TASK, AttemptCount(), ops)

    assert harness.client.sent == [("PATCH", ops_json(ops).encode("utf-8"))]
    assert (finished.outcome.ops, finished.outcome.task_digest) == (ops, ops_digest(TASK.ops))


# --- a 409 after a lost answer ----------------------------------------------------------------


async def test_409_after_a_lost_answer_is_reconciled_by_a_read_showing_the_values() -> None:
    conflict = answer(409, "IMG.0002", request_id="req-409")
    step, harness = _step([_lost(), conflict, _listing(AFTER)])

    finished = await step.patch(TASK, AttemptCount())

    outcome = finished.outcome
    assert _methods(harness) == ["PATCH", "PATCH", "GET"]
    assert (outcome.status, outcome.note) == (Status.SUCCEEDED, LOST_THEN_APPLIED)
    # the PATCH exchange's details, not the read's
    assert (outcome.attempts, outcome.http_status, outcome.request_id) == (2, 409, "req-409")
    assert finished.may_have_applied is True


async def test_409_after_a_lost_answer_fails_when_the_read_shows_other_values() -> None:
    step, harness = _step([_lost(), answer(409, "IMG.0002"), _listing(BEFORE)])

    finished = await step.patch(TASK, AttemptCount())

    assert _methods(harness) == ["PATCH", "PATCH", "GET"]
    assert (finished.outcome.status, finished.outcome.error_code) == (Status.FAILED, "IMG.0002")
    assert finished.may_have_applied is True  # the lost attempt may still have applied


async def test_409_without_a_lost_answer_fails_without_reading() -> None:
    step, harness = _step([answer(409, "IMG.0002")])

    finished = await step.patch(TASK, AttemptCount())

    assert _methods(harness) == ["PATCH"]
    assert (finished.outcome.status, finished.outcome.http_status) == (Status.FAILED, 409)
    assert finished.may_have_applied is False


# --- failures, may_have_applied and the auth flag ---------------------------------------------


@pytest.mark.parametrize(
    ("answers", "applied"),
    [
        ([answer(200)], True),
        ([_lost(), answer(503)], True),
        ([_lost(), _lost()], True),
        ([answer(404, "IMG.0027")], False),
        ([answer(503), answer(503)], False),
        ([TransportError("tls_error", "certificate verify failed")], True),
    ],
    ids=["ok", "lost-then-503", "lost-twice", "404", "503-twice", "tls-error"],
)
async def test_may_have_applied_is_set_for_an_accepted_patch_or_a_lost_answer(
    answers: list[Answer], applied: bool
) -> None:
    step, _ = _step(answers, verify=False, max_attempts=2)

    finished = await step.patch(TASK, AttemptCount())

    assert finished.may_have_applied is applied


@pytest.mark.parametrize(
    ("status", "code", "auth_failure"),
    [
        (401, "APIG.0301", True),
        (403, "APIG.0302", True),
        (400, "IMG.0026", True),
        (403, "IMG.0001", False),
        (404, "IMG.0027", False),
    ],
)
async def test_auth_failure_flag_comes_from_the_service(
    status: int, code: str, auth_failure: bool
) -> None:
    step, _ = _step([answer(status, code)], renewed=False)

    finished = await step.patch(TASK, AttemptCount())

    assert (finished.outcome.status, finished.outcome.error_code) == (Status.FAILED, code)
    assert finished.auth_failure is auth_failure


async def test_failed_outcome_has_the_patch_exchange_attempts_status_and_request_id() -> None:
    answers: list[Answer] = [
        answer(503, request_id="req-1"),
        _lost(),
        answer(502, request_id="req-3"),
    ]
    step, _ = _step(answers, max_attempts=3)
    count = AttemptCount()

    finished = await step.patch(TASK, count)

    outcome = finished.outcome
    assert (outcome.status, outcome.error_code) == (Status.FAILED, "HTTP_502")
    assert (outcome.attempts, outcome.http_status, outcome.request_id) == (3, 502, "req-3")
    assert count.sent == 3
    assert outcome.duration_ms == int(3 * LATENCY_S * 1000)


async def test_transport_error_that_ends_the_exchange_is_the_outcome_error() -> None:
    step, _ = _step([TransportError("tls_error", "certificate verify failed")])

    finished = await step.patch(TASK, AttemptCount())

    outcome = finished.outcome
    assert (outcome.status, outcome.error_code, outcome.error_message) == (
        Status.FAILED,
        "tls_error",
        "certificate verify failed",
    )
    assert (outcome.http_status, outcome.attempts) == (None, 1)


# --- around a stop ---------------------------------------------------------------------------


async def test_a_stop_while_waiting_for_a_rate_slot_sends_nothing() -> None:
    step, harness = _step([_image(AFTER), _image(AFTER)], ceiling=1.0)
    harness.on_slot_wait = harness.stop  # the second PATCH must wait 1 s: the stop comes

    first = await step.patch(TASK, AttemptCount())
    second = await step.patch(TASK, AttemptCount())

    assert first.outcome.status is Status.SUCCEEDED
    assert (second.outcome.status, second.outcome.note, second.outcome.attempts) == (
        Status.ABORTED,
        "not sent: the run stopped first",
        0,
    )
    assert second.may_have_applied is False
    assert _methods(harness) == ["PATCH"]


async def test_a_lost_answer_then_a_stop_is_aborted_and_says_it_may_have_been_applied() -> None:
    step, harness = _step([_lost()])
    harness.client.on_send = harness.stop  # the stop arrives while the attempt is in flight

    finished = await step.patch(TASK, AttemptCount())

    outcome = finished.outcome
    assert (outcome.status, outcome.error_code, outcome.attempts) == (
        Status.ABORTED,
        "connection_error",
        1,
    )
    assert outcome.note == (
        "run stopped before the next retry; an earlier attempt got no answer and may have been "
        "applied"
    )
    assert finished.may_have_applied is True
    assert _methods(harness) == ["PATCH"]


async def test_a_stop_during_backoff_after_a_retryable_answer_is_aborted() -> None:
    step, harness = _step([answer(503, request_id="req-1")])
    harness.on_pause = harness.stop

    finished = await step.patch(TASK, AttemptCount())

    outcome = finished.outcome
    assert (outcome.status, outcome.note) == (Status.ABORTED, "run stopped before the next retry")
    assert (outcome.http_status, outcome.request_id, outcome.attempts) == (503, "req-1", 1)


# --- read -------------------------------------------------------------------------------------


async def test_read_returns_the_first_image_of_the_listing() -> None:
    step, harness = _step([_listing(BEFORE)])

    image, exchange = await step.read(IMAGE_ID)

    assert (image, exchange.ok) == (BEFORE, True)
    assert _methods(harness) == ["GET"]


async def test_read_of_an_error_answer_returns_no_image() -> None:
    step, _ = _step([answer(404, "IMG.0027")])

    image, exchange = await step.read(IMAGE_ID)

    assert image is None
    assert exchange.error is not None
    assert exchange.error.code == "IMG.0027"
