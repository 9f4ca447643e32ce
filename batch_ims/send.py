"""One image, start to finish: paced attempts, retries, and the outcome record."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from batch_ims.apierror import ApiError, parse_error
from batch_ims.client import HttpResult, ImsClient, TransportError
from batch_ims.control import RunControl
from batch_ims.imagestate import mismatches, parse_image
from batch_ims.models import ImageTask, Outcome, Status, ops_json, utc_now_text
from batch_ims.ratelimit import AdaptiveRate, Pacer
from batch_ims.retry import RetryPolicy, is_retryable_status, is_throttle, parse_retry_after
from batch_ims.stats import RunStats

Pause = Callable[[float], Awaitable[bool]]  # waits; True when the run was told to stop meanwhile
Call = Callable[[], Awaitable[HttpResult]]


class Reauthenticator(Protocol):
    async def on_unauthorized(self, code: str, message: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Finished:
    outcome: Outcome
    auth_failure: bool = False
    may_have_applied: bool = False  # a PATCH was accepted, or one got no answer


@dataclass(frozen=True, slots=True)
class SendOptions:
    policy: RetryPolicy
    verify: bool = False


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


class ImageSender:
    def __init__(
        self,
        *,
        client: ImsClient,
        pacer: Pacer,
        rate: AdaptiveRate,
        options: SendOptions,
        stats: RunStats,
        control: RunControl,
        auth: Reauthenticator,
        is_auth_failure: Callable[[int, str], bool],
        pause: Pause,
        rand: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._pacer = pacer
        self._rate = rate
        self._options = options
        self._stats = stats
        self._control = control
        self._auth = auth
        self._is_auth_failure = is_auth_failure
        self._pause = pause
        self._rand = rand
        self._clock = clock

    async def read_image(self, image_id: str) -> tuple[dict[str, Any] | None, Exchange]:
        """The image's current attributes (GET), paced and retried like a PATCH."""
        exchange = await self.exchange(lambda: self._client.get_image(image_id))
        image = parse_image(exchange.result.body) if exchange.ok and exchange.result else None
        return image, exchange

    async def send(self, task: ImageTask) -> Finished:
        started = self._clock()
        body = ops_json(task.ops).encode("utf-8")
        exchange = await self.exchange(lambda: self._client.patch_image(task.image_id, body))
        finished = await self._conclude(task, started, exchange)
        if exchange.ok or exchange.lost_answer:
            finished = dataclasses.replace(finished, may_have_applied=True)
        return finished

    async def _conclude(self, task: ImageTask, started: float, exchange: Exchange) -> Finished:
        result = exchange.result
        if exchange.ok and result is not None:
            return self._succeeded(task, started, exchange, result)
        if result is not None and result.status == 409 and exchange.lost_answer:
            image, _ = await self.read_image(task.image_id)
            if image is not None and not mismatches(image, task.ops):
                note = "answer to an earlier attempt was lost; GET shows the change applied"
                return self.finish(task, started, exchange, Status.SUCCEEDED, note=note)
        return self.failed(task, started, exchange)

    async def exchange(self, call: Call) -> Exchange:
        """Send `call` until it succeeds, fails for good, or the attempts run out."""
        attempt = 0
        lost_answer = False
        reauthenticated = False
        while True:
            attempt += 1
            await self._pacer.acquire()
            if self._control.stopping:  # stopped while waiting for a slot: do not send
                return Exchange(None, None, None, attempt - 1, lost_answer, True)
            sent = self._clock()
            try:
                result = await call()
            except TransportError as exc:
                self._stats.request_done((self._clock() - sent) * 1000)
                lost_answer = True
                # a certificate that failed verification will fail again: no retry
                if exc.kind != "tls_error" and await self._retry_after_pause(attempt, None):
                    continue
                return Exchange(None, None, exc, attempt, lost_answer, self._control.stopping)
            self._stats.request_done((self._clock() - sent) * 1000)
            self._stats.server_date = result.date
            if 200 <= result.status < 300:
                self._rate.on_accepted()
                return Exchange(result, None, None, attempt, lost_answer, False)
            error = parse_error(result.status, result.body, result.content_type)
            if is_throttle(result.status, error.code):
                self._stats.throttled += 1
                self._rate.on_throttled()
                wait = parse_retry_after(result.retry_after, datetime.now(UTC))
                if wait:  # the API asked everyone to wait, not just this request
                    self._pacer.push_back(min(wait, self._options.policy.max_retry_after_s))
            else:
                self._rate.on_accepted()
            if result.status == 401 and not reauthenticated:
                reauthenticated = True
                if await self._auth.on_unauthorized(error.code, error.message):
                    continue
            retryable = is_retryable_status(result.status, error.code)
            if retryable and await self._retry_after_pause(attempt, result):
                continue
            stopped = retryable and self._control.stopping
            return Exchange(result, error, None, attempt, lost_answer, stopped)

    async def _retry_after_pause(self, attempt: int, result: HttpResult | None) -> bool:
        """Wait out the backoff when another attempt is due; False when there is none."""
        policy = self._options.policy
        if self._control.stopping or not policy.should_retry(attempt=attempt, retryable=True):
            return False
        retry_after = None
        if result is not None:
            retry_after = parse_retry_after(result.retry_after, datetime.now(UTC))
        delay = policy.delay(attempt=attempt, retry_after_s=retry_after, rand=self._rand)
        if await self._pause(delay):
            return False
        self._stats.retries += 1
        return True

    def _succeeded(
        self, task: ImageTask, started: float, exchange: Exchange, result: HttpResult
    ) -> Finished:
        if self._options.verify:
            image = parse_image(result.body)
            wrong = mismatches(image, task.ops) if image is not None else ["(unreadable answer)"]
            if wrong:
                message = "answer differs from the intended values for: " + ", ".join(wrong)
                return self.finish(
                    task, started, exchange, Status.FAILED, code="verify_mismatch", message=message
                )
        note = (
            "applied after a lost answer (add/replace are idempotent)"
            if exchange.lost_answer
            else ""
        )
        return self.finish(task, started, exchange, Status.SUCCEEDED, note=note)

    def failed(self, task: ImageTask, started: float, exchange: Exchange) -> Finished:
        """The outcome of an exchange that did not succeed."""
        if exchange.stopped and exchange.result is None:
            note = "not sent: the run stopped first"
            if exchange.attempts:
                note = "run stopped before the next retry"
                if exchange.lost_answer:
                    note += "; an earlier attempt got no answer and may have been applied"
            transport = exchange.transport
            return self.finish(
                task,
                started,
                exchange,
                Status.ABORTED,
                code=transport.kind if transport else "",
                message=transport.detail if transport else "",
                note=note,
            )
        if exchange.transport is not None:
            transport = exchange.transport
            return self.finish(
                task,
                started,
                exchange,
                Status.FAILED,
                code=transport.kind,
                message=transport.detail,
            )
        error = exchange.error or ApiError("", "")
        status = Status.ABORTED if exchange.stopped else Status.FAILED
        note = "run stopped before the next retry" if exchange.stopped else ""
        finished = self.finish(
            task, started, exchange, status, code=error.code, message=error.message, note=note
        )
        http_status = exchange.result.status if exchange.result is not None else 0
        return Finished(finished.outcome, self._is_auth_failure(http_status, error.code))

    def finish(
        self,
        task: ImageTask,
        started: float,
        exchange: Exchange | None,
        status: Status,
        *,
        code: str = "",
        message: str = "",
        note: str = "",
        holds: bool = False,
    ) -> Finished:
        result = exchange.result if exchange is not None else None
        outcome = Outcome(
            image_id=task.image_id,
            status=status,
            rows=task.rows,
            ops=task.ops,
            http_status=result.status if result is not None else None,
            error_code=code,
            error_message=message,
            attempts=exchange.attempts if exchange is not None else 0,
            request_id=result.request_id if result is not None else "",
            duration_ms=int((self._clock() - started) * 1000),
            finished_at=utc_now_text(),
            note=note,
            holds=holds,
        )
        return Finished(outcome)
