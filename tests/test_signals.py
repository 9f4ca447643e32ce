"""batch_ims.run.signals: real signals sent to this process, the time of each from a fake clock."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest
from structlog.testing import capture_logs

from batch_ims.run.signals import Signals
from batch_ims.run.stop import RunStop, StopReason
from tests.fakes import FakeClock, stop_policy


async def _deliver(signum: int, logs: list[dict[str, Any]]) -> None:
    """Send `signum` to this process and let the loop run its handler (which logs once)."""
    before = len(logs)
    os.kill(os.getpid(), signum)
    for _ in range(10_000):
        if len(logs) > before:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"signal {signum} was not handled")


@pytest.mark.parametrize(
    ("sent", "actions"),
    [
        (  # `timeout`, Kubernetes, systemd: the process, then its group
            [(0.0, signal.SIGTERM), (0.001, signal.SIGTERM)],
            ["stopping; in-flight may finish", "same stop: a repeat of the first SIGTERM"],
        ),
        (
            [(0.0, signal.SIGTERM), (1.5, signal.SIGTERM)],
            ["stopping; in-flight may finish", "cancelling in-flight now"],
        ),
        (  # Ctrl-C twice
            [(0.0, signal.SIGINT), (0.001, signal.SIGINT)],
            ["stopping; in-flight may finish", "cancelling in-flight now"],
        ),
    ],
)
async def test_a_second_sigterm_within_a_second_is_the_same_stop_and_a_later_one_cancels(
    sent: list[tuple[float, int]], actions: list[str]
) -> None:
    stop = RunStop(stop_policy())
    clock = FakeClock()
    cancels: list[float] = []
    with capture_logs() as logs:
        async with Signals(stop, clock=clock) as signals:
            signals.on_second = lambda: cancels.append(clock.now)
            for at, signum in sent:
                clock.now = at
                await _deliver(signum, logs)

    assert [event["action"] for event in logs] == actions
    assert cancels == [
        at for (at, _), action in zip(sent, actions, strict=True) if "cancel" in action
    ]
    assert stop.reason is StopReason(signal.Signals(sent[0][1]).name.lower())
