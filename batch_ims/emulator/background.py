"""An emulator served from a background thread with its own event loop.

For the demo and for end-to-end tests that drive the real CLI (which runs its own event
loop) in the same process: `with BackgroundEmulator(config) as running: running.url`.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from types import TracebackType

from batch_ims.emulator.app import Emulator
from batch_ims.emulator.config import EmulatorConfig
from batch_ims.emulator.server import RunningEmulator, start_emulator


class BackgroundEmulator:
    def __init__(self, config: EmulatorConfig, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._config = config
        self._host = host
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._running: RunningEmulator | None = None

    def __enter__(self) -> BackgroundEmulator:
        self._thread.start()
        future: Future[RunningEmulator] = asyncio.run_coroutine_threadsafe(
            start_emulator(self._config, host=self._host, port=self._port), self._loop
        )
        self._running = future.result(timeout=30)
        return self

    @property
    def url(self) -> str:
        if self._running is None:
            raise RuntimeError("emulator not started")
        return self._running.url

    @property
    def emulator(self) -> Emulator:
        if self._running is None:
            raise RuntimeError("emulator not started")
        return self._running.emulator

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._running is not None:
            asyncio.run_coroutine_threadsafe(self._running.close(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
