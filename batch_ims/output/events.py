"""The outcome stream: the recorder that fans it out, and one log event per finished image."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import structlog

from batch_ims.models import Outcome, Status
from batch_ims.stats import RunStats

_log = structlog.get_logger("batch_ims")


class ImageEvents:
    """`image.finished` for every image (failures at warning level)."""

    def __init__(self, *, quiet_successes: bool) -> None:
        self._quiet_successes = quiet_successes
        self._log = _log.bind()  # bound once: no per-event proxy work on the hot path

    def write(self, outcome: Outcome) -> None:
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
            fields["rows"] = ",".join(map(str, outcome.rows))  # where to look in the manifest
            self._log.warning("image.finished", **fields)
        elif self._quiet_successes:
            self._log.debug("image.finished", **fields)
        else:
            self._log.info("image.finished", **fields)

    def flush(self) -> None:
        """Log lines are written as they happen."""

    def close(self) -> None:
        """Nothing to release."""


class Recorder:
    """Fans each outcome out to every consumer, exactly once, and counts it."""

    def __init__(self, stats: RunStats, sinks: list[Any]) -> None:
        self._stats = stats
        self._sinks = sinks

    def record(self, outcome: Outcome) -> None:
        self._stats.count(outcome.status)
        for sink in self._sinks:
            sink.write(outcome)

    def flush(self) -> None:
        for sink in self._sinks:
            sink.flush()

    def close(self) -> None:
        for sink in self._sinks:
            sink.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
