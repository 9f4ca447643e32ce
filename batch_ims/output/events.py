"""Log consumers of the outcome stream: one event per finished image, periodic progress."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import click
import structlog

from batch_ims.errors import OutputWriteError
from batch_ims.models import Outcome, Status
from batch_ims.output.files import write_error
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
        self._stats.count(outcome.status)
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
