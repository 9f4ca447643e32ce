"""logsetup: console lines are for people."""

from __future__ import annotations

from batch_ims.logsetup import for_people


def test_console_logs_render_nested_counts_for_people_not_as_python_dicts() -> None:
    event = for_people(None, "info", {"event": "run.finished", "counts": {"succeeded": 1500}})

    assert event["counts"] == "(succeeded: 1500)"
