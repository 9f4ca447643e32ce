"""Everything one run needs to talk to IMS, opened and closed together.

Used by `run` (PATCHes) and by `plan --diff` (GETs): one HTTP session, the authenticator
prepared once, the shared pacer and the sender with its retry policy.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

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
) -> AsyncIterator[ImageSender]:
    """Open the session, prepare auth (may raise AuthFailedError), yield the sender."""
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
        await auth.prepare(session)
        rate = AdaptiveRate(RatePolicy(ceiling=transport.rate), time.monotonic)
        yield ImageSender(
            client=ImsClient(session, transport.endpoint, auth),
            pacer=Pacer(rate, time.monotonic),
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
