"""SIGINT/SIGTERM for the whole sending phase, from before authentication on.

The first signal stops the run (in-flight requests get the grace period); a repeated one
cancels what is in flight at once, unless it is a SIGTERM within a second of the first
(`RunStop.signalled` decides). Either way every image is reported.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from types import TracebackType

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

    def _on_signal(self, reason: StopReason) -> None:
        effect = self._stop.signalled(reason, self._clock())
        _log.warning("run.signal", signal=reason.value, action=effect.value)
        if effect is SignalEffect.CANCEL and self.on_second is not None:
            self.on_second()
