"""SIGINT/SIGTERM for the whole sending phase, from before authentication on, and while
the run's files are claimed, written and summarised (`finishing`).

The first signal stops the run (in-flight requests get the grace period); a repeated one
cancels what is in flight at once, unless it is a SIGTERM within a second of the first
(`RunStop.signalled` decides). Either way every image is reported. Outside the sending
phase a signal stops the run the same way but interrupts nothing: the report, summary and
metrics being written are finished (a half-written .xlsx would be worse than a late exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from types import FrameType, TracebackType

import structlog

from batch_ims.run.stop import RunStop, SignalEffect, StopReason

_log = structlog.get_logger("batch_ims")


class Signals:
    """Installed for the `async with` block; `on_second` is called when a repeated signal
    escalates (see `RunStop.signalled`)."""

    def __init__(self, stop: RunStop, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._stop = stop
        self._clock = clock
        self.on_second: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous = signal.getsignal(signal.SIGTERM)
        self._previous_int = signal.getsignal(signal.SIGINT)

    async def __aenter__(self) -> Signals:
        self._loop = asyncio.get_running_loop()
        self._loop.add_signal_handler(signal.SIGINT, self._on_signal, StopReason.SIGINT)
        self._loop.add_signal_handler(signal.SIGTERM, self._on_signal, StopReason.SIGTERM)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._loop is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._loop.remove_signal_handler(sig)
        signal.signal(signal.SIGTERM, self._previous)  # asyncio leaves SIG_DFL behind
        signal.signal(signal.SIGINT, self._previous_int)  # and Python's KeyboardInterrupt

    def _on_signal(self, reason: StopReason) -> None:
        effect = self._stop.signalled(reason, self._clock())
        _log.warning("run.signal", signal=reason.value, action=effect.value)
        if effect is SignalEffect.CANCEL and self.on_second is not None:
            self.on_second()


@contextlib.contextmanager
def finishing(stop: RunStop, *, clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """SIGINT/SIGTERM stop the run (its exit code says so) without interrupting the block;
    the sending phase installs `Signals` inside it, which hands back to this on exit."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        reason = StopReason.SIGINT if signum == signal.SIGINT else StopReason.SIGTERM
        stop.signalled(reason, clock())
        _log.warning("run.signal", signal=reason.value, action="finishing the run's files")

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
