"""The retry loop: one request sent until it succeeds, fails for good, or attempts run out.

Each attempt waits for a slot from the shared pacer, is sent, and its answer is read as
the image service says (error code, throttle, retryable). Throttles lower the shared rate
and a Retry-After pauses every worker; a 401 gets one re-authentication. The loop knows
nothing of the run: it asks `stopping()` before each send, waits through `pause` (which
returns True when the run stopped meanwhile), and reports requests to an observer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from batch_ims.transport.apierror import ApiError
from batch_ims.transport.client import HttpClient, HttpResult, Request, TransportError
from batch_ims.transport.ratelimit import AdaptiveRate, Pacer
from batch_ims.transport.retry import RetryPolicy, parse_retry_after

Pause = Callable[[float], Awaitable[bool]]  # waits; True when the run was told to stop meanwhile


class Answers(Protocol):
    """How to read an answer: the image service's knowledge of its API."""

    def parse_error(self, status: int, body: bytes, content_type: str | None) -> ApiError: ...

    def is_throttle(self, status: int, code: str) -> bool: ...

    def is_retryable(self, status: int, code: str) -> bool: ...


class Reauthenticator(Protocol):
    async def on_unauthorized(self, code: str, message: str) -> bool: ...


class RequestObserver(Protocol):
    """Counts what was really sent (the run's statistics, the in-flight limit)."""

    def request_sent(self) -> None: ...

    def request_done(
        self, method: str, latency_ms: float, answer: HttpResult | TransportError
    ) -> None: ...

    def request_cancelled(self, method: str) -> None:
        """A request cut off in flight: it may have reached the server, so it counts."""
        ...

    def backing_off(self, seconds: float) -> None:
        """This request's worker waits `seconds` (its own backoff) before the retry."""

    def retry_scheduled(self) -> None: ...

    def throttle_seen(self) -> None: ...


class AttemptCount:
    """Attempts sent so far for one request, readable while it is still in flight."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = 0


@dataclass(frozen=True, slots=True)
class Exchange:
    """The end of a retried request: its last answer (or transport error) and history."""

    result: HttpResult | None
    error: ApiError | None
    transport: TransportError | None
    attempts: int
    lost_answer: bool  # some attempt got no answer: its change may have been applied
    stopped: bool  # a retry was due but the run was stopping

    @property
    def ok(self) -> bool:
        return self.result is not None and 200 <= self.result.status < 300


@dataclass(frozen=True, slots=True)
class Pacing:
    """The shared send slots and the adaptive rate that spaces them."""

    pacer: Pacer
    rate: AdaptiveRate


@dataclass(frozen=True, slots=True)
class Retrying:
    """How many attempts, how long between them (the dice for jitter), and the clock."""

    policy: RetryPolicy
    rand: Callable[[], float]
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True, slots=True)
class RunHooks:
    """What the run tells the loop (stopping, a stoppable wait) and hears back (observer)."""

    observer: RequestObserver
    stopping: Callable[[], bool]
    pause: Pause


class Exchanger:
    """The retry loop of one session: a client and the service's reading of its answers,
    the credentials that may be renewed, and three collaborators (pacing, retrying, the
    run's hooks)."""

    def __init__(
        self,
        *,
        client: HttpClient,
        answers: Answers,
        auth: Reauthenticator,
        pacing: Pacing,
        retrying: Retrying,
        run: RunHooks,
    ) -> None:
        self._client = client
        self._answers = answers
        self._auth = auth
        self._pacer = pacing.pacer
        self._rate = pacing.rate
        self._policy = retrying.policy
        self._rand = retrying.rand
        self._clock = retrying.clock
        self._observer = run.observer
        self._stopping = run.stopping
        self._pause = run.pause

    async def exchange(
        self, request: Request, body: bytes = b"", count: AttemptCount | None = None
    ) -> Exchange:
        """Send `request` until it succeeds, fails for good, or the attempts run out."""
        count = count if count is not None else AttemptCount()
        lost_answer = False
        reauthenticated = False
        while True:
            await self._pacer.acquire()
            if self._stopping():  # stopped while waiting for a slot: do not send
                return Exchange(None, None, None, count.sent, lost_answer, True)
            count.sent += 1
            self._observer.request_sent()
            sent = self._clock()
            try:
                result = await self._client.send(request, body)
            except asyncio.CancelledError:  # cut off in flight: sent, as far as anyone knows
                self._observer.request_cancelled(request.method)
                raise
            except TransportError as exc:
                self._observer.request_done(request.method, (self._clock() - sent) * 1000, exc)
                lost_answer = True
                # a certificate that failed verification will fail again: no retry
                retryable = exc.kind != "tls_error"
                if retryable and await self._retry_after_pause(count.sent, None):
                    continue
                stopped = self._retry_was_due(count.sent, retryable)
                return Exchange(None, None, exc, count.sent, lost_answer, stopped)
            self._observer.request_done(request.method, (self._clock() - sent) * 1000, result)
            if 200 <= result.status < 300:
                self._rate.on_accepted()
                return Exchange(result, None, None, count.sent, lost_answer, False)
            error = self._answers.parse_error(result.status, result.body, result.content_type)
            self._note_throttle(result, error)
            if result.status == 401 and not reauthenticated:
                reauthenticated = True
                if await self._auth.on_unauthorized(error.code, error.message):
                    continue
            retryable = self._answers.is_retryable(result.status, error.code)
            if retryable and await self._retry_after_pause(count.sent, result):
                continue
            stopped = self._retry_was_due(count.sent, retryable)
            return Exchange(result, error, None, count.sent, lost_answer, stopped)

    def _retry_was_due(self, attempt: int, retryable: bool) -> bool:
        """Another attempt was allowed but the run is stopping (the image is then aborted)."""
        return self._policy.should_retry(attempt=attempt, retryable=retryable) and self._stopping()

    def _note_throttle(self, result: HttpResult, error: ApiError) -> None:
        if not self._answers.is_throttle(result.status, error.code):
            self._rate.on_accepted()
            return
        self._observer.throttle_seen()
        self._rate.on_throttled()
        wait = parse_retry_after(result.retry_after, datetime.now(UTC))
        if wait:  # the API asked everyone to wait, not just this request
            self._pacer.push_back(min(wait, self._policy.max_retry_after_s))

    async def _retry_after_pause(self, attempt: int, result: HttpResult | None) -> bool:
        """Wait out the backoff when another attempt is due; False when there is none."""
        if self._stopping() or not self._policy.should_retry(attempt=attempt, retryable=True):
            return False
        retry_after = None
        if result is not None:
            retry_after = parse_retry_after(result.retry_after, datetime.now(UTC))
        delay = self._policy.delay(attempt=attempt, retry_after_s=retry_after, rand=self._rand)
        if retry_after is None:  # a Retry-After holds every worker alike (the pacer's push)
            self._observer.backing_off(delay)
        if await self._pause(delay):
            return False
        self._observer.retry_scheduled()
        return True
