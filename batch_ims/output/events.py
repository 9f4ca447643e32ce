"""Log consumers of the outcome stream: one event per finished image, periodic progress."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

import click
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
            self._log.warning("image.finished", **fields)
        elif self._quiet_successes:
            self._log.debug("image.finished", **fields)
        else:
            self._log.info("image.finished", **fields)

    def flush(self) -> None:
        """Log lines are written as they happen."""

    def close(self) -> None:
        """Nothing to release."""


class Progress:
    """A live bar on a terminal; a `progress` event every `interval_s` off one."""

    def __init__(
        self,
        *,
        total: int,
        stats: RunStats,
        interval_s: float,
        clock: Callable[[], float],
        terminal: bool,
    ) -> None:
        self._total = total
        self._stats = stats
        self._interval_s = interval_s
        self._clock = clock
        self._start = clock()
        self._last = self._start
        self._done = 0
        self._bar: Any = None
        if terminal and total:
            self._bar = click.progressbar(
                length=total,
                label="images",
                file=sys.stderr,
                show_eta=True,
                show_percent=True,
                item_show_func=lambda _: self._status_text(),
            )
            self._bar.__enter__()

    def _status_text(self) -> str:
        rate = self._rate()
        return f"{rate:.1f}/s, {self._stats.counts.get('failed', 0)} failed"

    def _rate(self) -> float:
        elapsed = self._clock() - self._start
        return self._done / elapsed if elapsed > 0 else 0.0

    def snapshot(self) -> dict[str, Any]:
        rate = self._rate()
        remaining = self._total - self._done
        return {
            "done": self._done,
            "total": self._total,
            "failed": self._stats.counts.get("failed", 0),
            "rate": round(rate, 2),
            "eta_s": round(remaining / rate, 1) if rate > 0 else None,
        }

    def write(self, outcome: Outcome) -> None:
        self._done += 1
        if self._bar is not None:
            self._bar.update(1, outcome.image_id)
            return
        self.tick()

    def tick(self) -> None:
        """Emit a progress event when the interval has passed (also called by a timer)."""
        if self._bar is not None:
            return
        now = self._clock()
        if now - self._last >= self._interval_s:
            self._last = now
            _log.info("progress", **self.snapshot())

    def flush(self) -> None:
        """Nothing buffered."""

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


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
