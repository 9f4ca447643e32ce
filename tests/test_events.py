"""batch_ims.output.events: success lines held until a flush, rendered as structlog would."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from batch_ims import logsetup
from batch_ims.models import Op, Outcome, Status
from batch_ims.output.events import ImageEvents

OPS = (Op("replace", "/name", "web-01"),)


def _outcome(image_id: str, status: Status = Status.SUCCEEDED, **fields: object) -> Outcome:
    return Outcome(image_id=image_id, status=status, rows=(2,), ops=OPS, **fields)  # type: ignore[arg-type]


def _success(image_id: str) -> Outcome:
    return _outcome(image_id, http_status=200, attempts=1, duration_ms=12)


@pytest.mark.parametrize(
    "outcome",
    [
        _success('镜像 "x"'),
        _outcome(
            "img-1", http_status=200, attempts=2, duration_ms=9, note="applied after a lost answer"
        ),
        _outcome("img-2", Status.SKIPPED, note="already succeeded with the same ops (journal)"),
        _outcome("img-3", Status.SKIPPED, note='not retried: "held-secret-5678" in a note'),
    ],
    ids=["success", "success-with-note", "skipped", "note-with-a-secret"],
)
def test_a_held_line_has_the_keys_values_and_order_structlog_gives(outcome: Outcome) -> None:
    stream = io.StringIO()
    logsetup.configure(log_format="json", stream=stream)
    logsetup.register_secret("held-secret-5678")
    events = ImageEvents(quiet_successes=False)
    events.write(outcome)
    held = stream.getvalue()
    events.flush()
    fields: dict[str, object] = {
        "image_id": outcome.image_id,
        "status": outcome.status.value,
        "http_status": outcome.http_status,
        "attempts": outcome.attempts,
        "duration_ms": outcome.duration_ms,
    }
    if outcome.note:
        fields["note"] = outcome.note
    structlog.get_logger("batch_ims").info("image.finished", **fields)

    ours, theirs = (json.loads(line) for line in stream.getvalue().splitlines())

    assert held == ""
    assert list(ours) == list(theirs)
    assert {**ours, "timestamp": ""} == {**theirs, "timestamp": ""}


def test_successes_are_held_until_a_flush_then_written_whole_in_order() -> None:
    stream = io.StringIO()
    logsetup.configure(log_format="json", stream=stream)
    events = ImageEvents(quiet_successes=False)

    for index in range(3):
        events.write(_success(f"img-{index}"))
    held = stream.getvalue()
    events.flush()

    assert held == ""
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["image_id"] for line in lines] == ["img-0", "img-1", "img-2"]


def test_another_event_writes_the_held_lines_first_so_the_stream_stays_in_order() -> None:
    stream = io.StringIO()
    logsetup.configure(log_format="json", stream=stream)
    events = ImageEvents(quiet_successes=False)

    events.write(_success("img-0"))
    events.write(_outcome("img-1", Status.FAILED, http_status=500, error_code="boom"))

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["image_id"], line["level"]) for line in lines] == [
        ("img-0", "info"),
        ("img-1", "warning"),
    ]


def test_held_lines_are_written_at_close_and_a_registered_secret_is_cut() -> None:
    stream = io.StringIO()
    logsetup.configure(log_format="json", stream=stream)
    logsetup.register_secret("events-secret-1234")
    events = ImageEvents(quiet_successes=False)

    events.write(_success("id-events-secret-1234"))
    events.close()

    assert json.loads(stream.getvalue())["image_id"] == "id-***"


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_quiet_successes_are_not_written_without_verbose(log_format: str) -> None:
    stream = io.StringIO()
    logsetup.configure(log_format=log_format, stream=stream)
    events = ImageEvents(quiet_successes=True)

    events.write(_success("img-0"))
    events.close()

    assert stream.getvalue() == ""
