"""The outcome stream: the recorder that fans it out, and one log event per finished image."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog

from batch_ims import logsetup
from batch_ims.console import json_line
from batch_ims.errors import OutputWriteError
from batch_ims.models import Outcome, Status, rows_text, utc_now_text
from batch_ims.output.files import write_error
from batch_ims.stats import RunStats

_log = structlog.get_logger("batch_ims")
_json = json.JSONEncoder(ensure_ascii=False).encode


def _encode(text: str) -> str:
    return json_line(_json(text))


_HELD = frozenset({Status.SUCCEEDED, Status.SKIPPED})


class ImageEvents:
    """`image.finished` for every image (failures at warning level).

    With JSON logs, a success or a skip without an error is rendered here as the same line
    structlog would write and held by the log sink until the next flush (the progress tick,
    the end of the run): one write per tick rather than one per image (a --resume of a
    large run reports most images skipped).
    """

    def __init__(self, *, quiet_successes: bool) -> None:
        self._quiet_successes = quiet_successes
        self._log = _log.bind()  # bound once: no per-event proxy work on the hot path
        level = logging.DEBUG if quiet_successes else logging.INFO
        self._level_name = "debug" if quiet_successes else "info"
        self._successes_shown = logsetup.enabled(level)
        self._sink = logsetup.json_sink()

    def write(self, outcome: Outcome) -> None:
        if outcome.status in _HELD and not outcome.error_code and self._sink is not None:
            if self._successes_shown:
                self._sink.hold(self._held_line(outcome))
            return
        self._write_event(outcome)

    def _held_line(self, outcome: Outcome) -> str:
        """What structlog renders for this event: same keys, order and redaction."""
        status = outcome.http_status
        note = outcome.note
        shown = f'"note": {_encode(logsetup.redact_text(note))}, ' if note else ""
        return (
            f'{{"image_id": {_encode(logsetup.redact_text(outcome.image_id))}, '
            f'"status": "{outcome.status.value}", '
            f'"http_status": {"null" if status is None else status}, '
            f'"attempts": {outcome.attempts}, "duration_ms": {outcome.duration_ms}, {shown}'
            f'"event": "image.finished", "level": "{self._level_name}", '
            f'"timestamp": "{utc_now_text()}"}}'
        )

    def _write_event(self, outcome: Outcome) -> None:
        fields: dict[str, Any] = {
            "image_id": outcome.image_id,
            "status": outcome.status.value,
            "http_status": outcome.http_status,
            "attempts": outcome.attempts,
            "duration_ms": outcome.duration_ms,
        }
        if outcome.error_code:
            fields["error_code"] = outcome.error_code
            fields["error_message"] = outcome.error_message
        if outcome.note:
            fields["note"] = outcome.note
        if outcome.status in (Status.FAILED, Status.INVALID):
            fields["rows"] = rows_text(outcome.rows)  # where to look in the manifest
            self._log.warning("image.finished", **fields)
        elif self._quiet_successes:
            self._log.debug("image.finished", **fields)
        else:
            self._log.info("image.finished", **fields)

    def flush(self) -> None:
        """Write the held success lines."""
        if self._sink is not None:
            self._sink.flush()

    def close(self) -> None:
        self.flush()


class Recorder:
    """Fans each outcome out to every consumer, exactly once, and counts it.

    A consumer that cannot write (a full disk) is dropped and discarded: its failure is kept
    (`failure`, exit 74) and handed to `on_error`, which stops the run; the other consumers
    go on and are closed as usual, so the journal and report still say what was sent.
    """

    def __init__(
        self,
        stats: RunStats,
        sinks: list[Any],
        *,
        on_error: Callable[[OutputWriteError], None] | None = None,
    ) -> None:
        self._stats = stats
        self._sinks = tuple(sinks)
        self._on_error = on_error
        self.failure: OutputWriteError | None = None

    def record(self, outcome: Outcome) -> None:
        self._stats.count(outcome.status, outcome.target)
        for sink in self._sinks:
            try:
                sink.write(outcome)
            except OSError as exc:
                self.fail(sink, exc)

    def fail(self, sink: Any, exc: OSError | OutputWriteError) -> None:
        """`sink` cannot be written: drop it, keep the first failure, stop the run."""
        if isinstance(exc, OSError):
            error = write_error(getattr(sink, "label", "output"), Path(sink.path), exc)
        else:
            error = exc
        self._sinks = tuple(s for s in self._sinks if s is not sink)
        discard = getattr(sink, "discard", None)
        if discard is not None:
            discard()
        _log.error("output.failed", error=str(error))
        if self.failure is None:
            self.failure = error
            if self._on_error is not None:
                self._on_error(error)

    def flush(self) -> None:
        for sink in self._sinks:
            try:
                sink.flush()
            except OSError as exc:
                self.fail(sink, exc)

    def close(self) -> None:
        sinks, self._sinks = self._sinks, ()
        for index, sink in enumerate(sinks):
            try:
                sink.close()
            except (OSError, OutputWriteError) as exc:
                self.fail(sink, exc)
            except BaseException:
                for rest in sinks[index + 1 :]:  # interrupted: leave every earlier file as it was
                    discard = getattr(rest, "discard", rest.close)
                    with contextlib.suppress(Exception):
                        discard()
                raise

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
