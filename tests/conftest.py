"""Shared fixtures: in-process emulators on loopback and a client session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from batch_ims.emulator.config import EmulatorConfig
from batch_ims.emulator.server import RunningEmulator, start_emulator

Serve = Callable[..., Awaitable[RunningEmulator]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    started: list[RunningEmulator] = []

    async def _serve(config: EmulatorConfig, **kwargs: Any) -> RunningEmulator:
        running = await start_emulator(config, **kwargs)
        started.append(running)
        return running

    yield _serve
    for running in started:
        await running.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client
