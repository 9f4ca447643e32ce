"""Everything one run needs to talk to IMS, opened and closed together.

Used by `run` (PATCHes) and by `plan --diff` (GETs): one HTTP session, the authenticator
prepared once, the shared pacer and the sender with its retry policy.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import structlog
from yarl import URL

from batch_ims.auth import Authenticator, is_auth_failure
from batch_ims.client import ImsClient, make_session, make_ssl_context
from batch_ims.control import RunControl
from batch_ims.ratelimit import AdaptiveRate, Pacer, RatePolicy
from batch_ims.retry import RetryPolicy
from batch_ims.send import ImageSender, Pause, SendOptions
from batch_ims.stats import RunStats

_log = structlog.get_logger("batch_ims")


@dataclass(frozen=True, slots=True)
class Transport:
    endpoint: URL
    concurrency: int
    rate: float
    timeout_s: float
    max_attempts: int
    verify: bool = False
    ca_bundle: str | None = None
    insecure: bool = False


@asynccontextmanager
async def open_sender(
    transport: Transport,
    auth: Authenticator,
    *,
    stats: RunStats,
    control: RunControl,
    pause: Pause,
    stop_event: asyncio.Event | None = None,
) -> AsyncIterator[ImageSender]:
    """Open the session, prepare auth (may raise AuthFailedError), yield the sender.

    Setting `stop_event` while authentication is under way abandons it: the sender is
    still yielded, and the caller's dispatcher reports every image as not sent.
    """
    ssl_context = make_ssl_context(ca_bundle=transport.ca_bundle, insecure=transport.insecure)
    if transport.insecure:
        _log.warning(
            "tls.verification_disabled",
            endpoint=str(transport.endpoint),
            advice="--insecure: anyone on the network path can read and change requests",
        )
    async with make_session(
        concurrency=transport.concurrency, ssl_context=ssl_context, timeout_s=transport.timeout_s
    ) as session:
        await _prepare_unless_stopped(auth, session, stop_event)
        rate = AdaptiveRate(RatePolicy(ceiling=transport.rate), time.monotonic)
        yield ImageSender(
            client=ImsClient(session, transport.endpoint, auth),
            pacer=Pacer(rate, time.monotonic, sleep=_stoppable(pause)),
            rate=rate,
            options=SendOptions(
                policy=RetryPolicy(max_attempts=transport.max_attempts), verify=transport.verify
            ),
            stats=stats,
            control=control,
            auth=auth,
            is_auth_failure=is_auth_failure,
            pause=pause,
            rand=random.random,
        )


async def _prepare_unless_stopped(
    auth: Authenticator, session: aiohttp.ClientSession, stop_event: asyncio.Event | None
) -> None:
    if stop_event is None:
        await auth.prepare(session)
        return
    preparing = asyncio.create_task(auth.prepare(session))
    stopped = asyncio.create_task(stop_event.wait())
    try:
        await asyncio.wait({preparing, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not preparing.done():
        preparing.cancel()
        await asyncio.gather(preparing, return_exceptions=True)
        return
    preparing.result()


def _stoppable(pause: Pause) -> Callable[[float], Awaitable[None]]:
    """The pacer's sleep, cut short when the run stops (the sender then sends nothing)."""

    async def sleep(seconds: float) -> None:
        await pause(seconds)

    return sleep
