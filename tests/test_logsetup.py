"""batch_ims.logsetup: registered secrets are cut out of nested values and tracebacks."""

from __future__ import annotations

import io
import json

import structlog

from batch_ims import logsetup

SECRET = "logsetup-secret-NESTED-8d1f"


def test_a_secret_is_cut_from_nested_fields_and_from_a_formatted_traceback() -> None:
    stream = io.StringIO()
    logsetup.configure(log_format="json", stream=stream)
    logsetup.register_secret(SECRET)
    log = structlog.get_logger("batch_ims")

    log.info("nested", detail={"body": [f"echo {SECRET}", {"deeper": SECRET}]})
    try:
        raise RuntimeError(f"server said {SECRET}")
    except RuntimeError:
        log.exception("failed")

    text = stream.getvalue()
    events = [json.loads(line) for line in text.splitlines()]
    assert SECRET not in text
    assert events[0]["detail"] == {"body": ["echo ***", {"deeper": "***"}]}
    assert "RuntimeError: server said ***" in events[1]["exception"]


def test_console_logs_render_nested_counts_for_people_not_as_python_dicts() -> None:
    event = logsetup.for_people(
        None, "info", {"event": "run.finished", "counts": {"succeeded": 1500}}
    )

    assert event["counts"] == "(succeeded: 1500)"
