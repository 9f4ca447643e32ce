"""Everything one run needs to talk to its image service, opened and closed together.

Used by `run` (PATCHes) and by `plan --diff` (reads): one HTTP session, the authenticator
prepared once, the shared pacer and rate, the in-flight limit that follows them, the retry
loop, and the image step on top. Each call builds its own rate and in-flight limit: a run
with several targets opens one session per target, and each target's budget is its own
(the file descriptors, though, are the process's: see `transport/fdlimit.py`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp
import structlog
from yarl import URL

from batch_ims.clouds.auth import Authenticator
from batch_ims.clouds.base import Target
from batch_ims.run.image import ImageStep
from batch_ims.run.stop import RunStop
from batch_ims.settings import RunSettings
from batch_ims.stats import RunStats
from batch_ims.transport.client import (
    OUT_OF_DESCRIPTORS,
    HttpClient,
    HttpResult,
    TransportError,
    make_session,
    tls_setting,
)
from batch_ims.transport.exchange import Exchanger, Pacing, Retrying, RunHooks
from batch_ims.transport.fdlimit import descriptor_budget, fit_ceiling, reserved
from batch_ims.transport.inflight import InFlightLimit, InFlightPolicy
from batch_ims.transport.ratelimit import AdaptiveRate, Pacer, RatePolicy
from batch_ims.transport.retry import RetryPolicy

_log = structlog.get_logger("batch_ims")


# no answer from the endpoint: counted toward --unreachable-limit (a TLS failure is an
# answer of a kind; running out of descriptors is this machine's doing, and not counted)
_NO_ANSWER = frozenset({"connection_error", "timeout"})


class _Observer:
    """Requests as the run sees them: counted, their latency fed to the in-flight limit, and
    an endpoint that never answers (refuses, or accepts and stays silent) stops the run."""

    def __init__(self, stats: RunStats, stop: RunStop, endpoint: URL, limit: InFlightLimit) -> None:
        self._stats = stats
        self._stop = stop
        self._limit = limit
        self._host = endpoint.host or str(endpoint)

    def request_sent(self) -> None:
        self._stats.request_sent()

    def request_done(
        self, method: str, latency_ms: float, answer: HttpResult | TransportError
    ) -> None:
        if isinstance(answer, TransportError):
            self._stats.request_done(method, latency_ms)
            if answer.kind == OUT_OF_DESCRIPTORS:
                return
            answered = answer.kind not in _NO_ANSWER
            detail = f"{self._host}: {answer.detail}"
            if self._stop.request_ended(answered=answered, detail=detail):
                _log.error("run.unreachable", stage="send", host=self._host, reason=answer.detail)
            return
        self._stats.request_done(method, latency_ms, answer.date)
        self._limit.answered(latency_ms / 1000)
        self._stop.request_ended(answered=True)

    def backing_off(self, seconds: float) -> None:
        self._limit.held(seconds)

    def request_cancelled(self, method: str) -> None:
        self._stats.request_cancelled(method)

    def retry_scheduled(self) -> None:
        self._stats.retry_scheduled()

    def throttle_seen(self) -> None:
        self._stats.throttle_seen()


class SignInStopped(Exception):
    """The run stopped while signing in: no service was located, nothing was sent."""


@dataclass(frozen=True, slots=True)
class Connected:
    step: ImageStep
    endpoint: URL
    service: str
    in_flight: InFlightLimit  # the dispatcher's workers follow its `target`


@asynccontextmanager
async def open_session(
    settings: RunSettings, target: Target, *, stats: RunStats, stop: RunStop
) -> AsyncIterator[Connected]:
    """Open the session, prepare auth and find the service (may raise AuthFailedError),
    yield the image step.

    A stop while authentication is under way abandons it and raises SignInStopped: nothing
    was sent, and the caller reports every image as not sent.
    """
    ceiling, source = settings.concurrency_ceiling
    ceiling, source = fit_ceiling(ceiling, source, descriptor_budget(ceiling))
    auth = target.auth
    ca_bundle = str(settings.ca_bundle) if settings.ca_bundle else None
    tls = tls_setting(ca_bundle=ca_bundle, insecure=settings.insecure)
    async with AsyncExitStack() as held:
        held.enter_context(reserved(ceiling))  # the next target's budget counts them
        session = await held.enter_async_context(
            make_session(concurrency=ceiling, tls=tls, timeout_s=settings.timeout)
        )
        await _prepare_unless_stopped(auth, session, stop)
        if stop.stopping:
            raise SignInStopped
        endpoint, service = target.locate()
        if settings.insecure:
            _log.warning(
                "tls.verification_disabled",
                endpoint=str(endpoint),
                advice="--insecure: anyone on the network path can read and change requests",
            )
        rate = AdaptiveRate(RatePolicy(ceiling=settings.rate), time.monotonic)
        limit = InFlightLimit(InFlightPolicy(ceiling=ceiling, ceiling_source=source), rate)
        exchanger = Exchanger(
            client=HttpClient(session, auth.headers, request_id_header=service.request_id_header),
            answers=service,
            auth=auth,
            pacing=Pacing(Pacer(rate, time.monotonic, sleep=_stoppable(stop.pause)), rate),
            retrying=Retrying(RetryPolicy(max_attempts=settings.max_attempts), random.random),
            run=RunHooks(
                observer=_Observer(stats, stop, endpoint, limit),
                stopping=lambda: stop.stopping,
                pause=stop.pause,
            ),
        )
        step = ImageStep(exchanger=exchanger, service=service, verify=settings.verify)
        yield Connected(step, endpoint, service.name, limit)


async def _prepare_unless_stopped(
    auth: Authenticator, session: aiohttp.ClientSession, stop: RunStop
) -> None:
    preparing = asyncio.create_task(auth.prepare(session))
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({preparing, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not preparing.done():
        preparing.cancel()
        await asyncio.gather(preparing, return_exceptions=True)
        return
    preparing.result()


def _stoppable(pause: Callable[[float], Awaitable[bool]]) -> Callable[[float], Awaitable[None]]:
    """The pacer's sleep, cut short when the run stops (the exchange then sends nothing)."""

    async def sleep(seconds: float) -> None:
        await pause(seconds)

    return sleep
