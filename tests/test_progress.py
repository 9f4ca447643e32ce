"""Progress: the status line and the event fields, from one snapshot (injected clock)."""

from __future__ import annotations

import io

from batch_ims.models import Outcome, Status
from batch_ims.output.progress import Progress, Snapshot, clock_text, render
from batch_ims.stats import RunStats


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _outcome(status: Status) -> Outcome:
    return Outcome(image_id="x", status=status, rows=(2,), ops=())


def test_clock_text_shows_minutes_hours_and_unknown() -> None:
    assert [clock_text(s) for s in (0, 65, 3723, None)] == ["0:00", "1:05", "1:02:03", "-"]


def test_the_line_shows_count_rates_failures_elapsed_and_eta() -> None:
    snap = Snapshot(1234, 5000, 2, 12.34, 15.0, 20.0, 7, 100.0, 305.2)

    assert render(snap) == (
        "images 1234/5000 (24%)  12.3 img/s, 15.0 req/s (asked 20), 7 in flight  "
        "2 failed  elapsed 1:40  ETA 5:05"
    )


def test_snapshot_counts_failed_and_aborted_and_rates_images_and_requests_apart() -> None:
    clock, stats = _Clock(), RunStats()
    progress = Progress(
        total=10, stats=stats, interval_s=1.0, rate_asked=10.0, clock=clock, terminal=None
    )
    for status in (Status.SUCCEEDED, Status.FAILED, Status.ABORTED, Status.SUCCEEDED):
        progress.write(_outcome(status))
    for _ in range(8):  # a read and a PATCH per image
        stats.request_done("GET", 1.0)
    clock.now += 2.0

    snap = progress.snapshot()

    assert (snap.done, snap.total, snap.failed) == (4, 10, 2)
    assert (snap.images_per_s, snap.requests_per_s) == (2.0, 4.0)
    assert snap.eta_s == 3.0


def test_on_a_terminal_each_tick_redraws_one_line_and_close_ends_it() -> None:
    clock, screen = _Clock(), io.StringIO()
    progress = Progress(
        total=2, stats=RunStats(), interval_s=10.0, rate_asked=10.0, clock=clock, terminal=screen
    )
    progress.write(_outcome(Status.SUCCEEDED))
    clock.now += 1.0
    progress.tick()
    progress.close()

    drawn = screen.getvalue()
    assert drawn.count("\r\x1b[2K") == 2
    assert "images 1/2 (50%)" in drawn
    assert drawn.endswith("\n")
