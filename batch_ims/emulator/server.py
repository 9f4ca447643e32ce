"""Serving an `Emulator` on a TCP port (loopback by default), closed by a context manager."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

from aiohttp import web

from batch_ims.emulator.app import Emulator
from batch_ims.emulator.config import EmulatorConfig


class RunningEmulator:
    """An emulator being served at `url`; `close()` (or leaving `async with`) stops it."""

    def __init__(self, emulator: Emulator, runner: web.AppRunner, *, host: str, port: int) -> None:
        self.emulator = emulator
        self.host = host
        self.port = port
        self._runner = runner

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningEmulator:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def start_emulator(
    config: EmulatorConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> RunningEmulator:
    """Start serving a new `Emulator(config)`; `port=0` picks a free port."""
    emulator = Emulator(config, clock=clock, monotonic=monotonic, sleep=sleep)
    runner = web.AppRunner(
        emulator.app, access_log=None, handle_signals=False, shutdown_timeout=0.5
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = _bound_port(runner) or port
    return RunningEmulator(emulator, runner, host=host, port=bound_port)


def _bound_port(runner: web.AppRunner) -> int | None:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return None
