"""Progress: a status line on a terminal, a `progress` event every interval off one.

The line reads like rclone's or `aws s3`'s: done/total and percent, images/s and
requests/s apart (reads of --skip-unchanged, --undo-manifest and --verify share the rate),
the rate asked for and the requests in flight, failures, elapsed time and ETA. Both come
from one pure `snapshot`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import structlog

from batch_ims.models import Outcome, Status
from batch_ims.stats import RunStats

_log = structlog.get_logger("batch_ims")
_FAILED = (Status.FAILED.value, Status.ABORTED.value)


@dataclass(frozen=True, slots=True)
class Snapshot:
    done: int
    total: int
    failed: int
    images_per_s: float
    requests_per_s: float
    rate_asked: float
    in_flight: int
    elapsed_s: float
    eta_s: float | None

    def fields(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "total": self.total,
            "failed": self.failed,
            "images_per_s": round(self.images_per_s, 2),
            "requests_per_s": round(self.requests_per_s, 2),
            "rate_asked": self.rate_asked,
            "in_flight": self.in_flight,
            "elapsed_s": round(self.elapsed_s, 1),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
        }


def clock_text(seconds: float | None) -> str:
    """`1:05`, `1:02:03`, or `-` when unknown."""
    if seconds is None:
        return "-"
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def render(snap: Snapshot) -> str:
    """The terminal status line."""
    percent = 100 * snap.done // snap.total if snap.total else 100
    return (
        f"images {snap.done}/{snap.total} ({percent}%)  "
        f"{snap.images_per_s:.1f} img/s, {snap.requests_per_s:.1f} req/s "
        f"(asked {snap.rate_asked:g}), {snap.in_flight} in flight  "
        f"{snap.failed} failed  elapsed {clock_text(snap.elapsed_s)}  "
        f"ETA {clock_text(snap.eta_s)}"
    )


class Progress:
    """Consumes the outcome stream; draws on a terminal, logs events off one."""

    def __init__(
        self,
        *,
        total: int,
        stats: RunStats,
        interval_s: float,
        rate_asked: float,
        clock: Callable[[], float],
        terminal: TextIO | None,
    ) -> None:
        self._total = total
        self._stats = stats
        self._interval_s = interval_s
        self._rate_asked = rate_asked
        self._clock = clock
        self._start = clock()
        self._last = self._start
        self._done = 0
        self._failed = 0
        self._terminal = terminal if total else None
        self._drawn = False

    def snapshot(self) -> Snapshot:
        elapsed = self._clock() - self._start
        images = self._done / elapsed if elapsed > 0 else 0.0
        requests = self._stats.requests / elapsed if elapsed > 0 else 0.0
        remaining = self._total - self._done
        eta = remaining / images if images > 0 else (0.0 if remaining == 0 else None)
        return Snapshot(
            self._done,
            self._total,
            self._failed,
            images,
            requests,
            self._rate_asked,
            self._stats.in_flight,
            elapsed,
            eta,
        )

    def write(self, outcome: Outcome) -> None:
        self._done += 1
        if outcome.status.value in _FAILED:
            self._failed += 1

    def tick(self) -> None:
        """Redraw the line, or log an event when the interval has passed (a timer calls it)."""
        if self._terminal is not None:
            self._draw()
            return
        now = self._clock()
        if now - self._last >= self._interval_s:
            self._last = now
            _log.info("progress", **self.snapshot().fields())

    def _draw(self) -> None:
        assert self._terminal is not None
        try:
            self._terminal.write("\r\x1b[2K" + render(self.snapshot()))
            self._terminal.flush()
            self._drawn = True
        except (OSError, ValueError):  # the terminal went away: progress is not worth a failure
            self._terminal = None

    def flush(self) -> None:
        """Nothing buffered."""

    def close(self) -> None:
        if self._terminal is not None:
            self._draw()
            if self._drawn:
                try:
                    self._terminal.write("\n")
                    self._terminal.flush()
                except (OSError, ValueError):
                    pass
            self._terminal = None
