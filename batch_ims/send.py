"""One image, start to finish: paced attempts, retries, and the outcome record."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from batch_ims.apierror import ApiError, parse_error
from batch_ims.client import HttpResult, ImsClient, TransportError
from batch_ims.control import RunControl
from batch_ims.imagestate import mismatches, parse_image
from batch_ims.models import ImageTask, Outcome, Status, ops_json
from batch_ims.ratelimit import AdaptiveRate, Pacer
from batch_ims.retry import RetryPolicy, is_retryable_status, is_throttle, parse_retry_after
from batch_ims.stats import RunStats

Pause = Callable[[float], Awaitable[bool]]  # waits; True when the run was told to stop meanwhile


class Reauthenticator(Protocol):
    async def on_unauthorized(self, code: str, message: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Finished:
    outcome: Outcome
    auth_failure: bool


@dataclass(frozen=True, slots=True)
class SendOptions:
    policy: RetryPolicy
    verify: bool = False


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

    async def send(self, task: ImageTask) -> Finished:
        body = ops_json(task.ops).encode("utf-8")
        started = self._clock()
        attempt = 0
        lost_answer = False
        reauthenticated = False
        while True:
            attempt += 1
            await self._pacer.acquire()
            sent = self._clock()
            try:
                result = await self._client.patch_image(task.image_id, body)
            except TransportError as exc:
                self._stats.request_done((self._clock() - sent) * 1000)
                lost_answer = True
                if await self._retry_after_pause(attempt, None):
                    continue
                return self._finish(
                    task, started, attempt, Status.FAILED, None, exc.kind, exc.detail
                )
            self._stats.request_done((self._clock() - sent) * 1000)
            self._stats.server_date = result.date
            if 200 <= result.status < 300:
                self._rate.on_accepted()
                return await self._succeeded(task, started, attempt, result, lost_answer)
            error = parse_error(result.status, result.body, result.content_type)
            throttled = is_throttle(result.status, error.code)
            if throttled:
                self._stats.throttled += 1
                self._rate.on_throttled()
            else:
                self._rate.on_accepted()
            if result.status == 401 and not reauthenticated:
                reauthenticated = True
                if await self._auth.on_unauthorized(error.code, error.message):
                    continue
            if result.status == 409 and lost_answer:
                applied = await self._applied_already(task)
                if applied:
                    note = "answer to an earlier attempt was lost; GET shows the change applied"
                    return self._finish(
                        task,
                        started,
                        attempt,
                        Status.SUCCEEDED,
                        result.status,
                        "",
                        "",
                        result,
                        note=note,
                    )
            retryable = is_retryable_status(result.status, error.code)
            if retryable and await self._retry_after_pause(attempt, result):
                continue
            return self._failed(task, started, attempt, result, error, retryable)

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

    async def _applied_already(self, task: ImageTask) -> bool:
        try:
            result = await self._client.get_image(task.image_id)
        except TransportError:
            return False
        image = parse_image(result.body) if result.status == 200 else None
        return image is not None and not mismatches(image, task.ops)

    async def _succeeded(
        self, task: ImageTask, started: float, attempt: int, result: HttpResult, lost: bool
    ) -> Finished:
        note = "applied after a lost answer (add/replace are idempotent)" if lost else ""
        if self._options.verify:
            image = parse_image(result.body)
            wrong = mismatches(image, task.ops) if image is not None else ["(unreadable answer)"]
            if wrong:
                message = "answer differs from the intended values for: " + ", ".join(wrong)
                return self._finish(
                    task,
                    started,
                    attempt,
                    Status.FAILED,
                    result.status,
                    "verify_mismatch",
                    message,
                    result,
                )
        return self._finish(
            task, started, attempt, Status.SUCCEEDED, result.status, "", "", result, note=note
        )

    def _failed(
        self,
        task: ImageTask,
        started: float,
        attempt: int,
        result: HttpResult,
        error: ApiError,
        retryable: bool,
    ) -> Finished:
        stopped = retryable and self._control.stopping
        status = Status.ABORTED if stopped else Status.FAILED
        note = "run stopped before the next retry" if stopped else ""
        finished = self._finish(
            task,
            started,
            attempt,
            status,
            result.status,
            error.code,
            error.message,
            result,
            note=note,
        )
        auth_failure = self._is_auth_failure(result.status, error.code)
        return Finished(finished.outcome, auth_failure)

    def _finish(
        self,
        task: ImageTask,
        started: float,
        attempt: int,
        status: Status,
        http_status: int | None,
        code: str,
        message: str,
        result: HttpResult | None = None,
        *,
        note: str = "",
    ) -> Finished:
        outcome = Outcome(
            image_id=task.image_id,
            status=status,
            rows=task.rows,
            ops=task.ops,
            http_status=http_status,
            error_code=code,
            error_message=message,
            attempts=attempt,
            request_id=result.request_id if result is not None else "",
            duration_ms=int((self._clock() - started) * 1000),
            finished_at=utc_now_text(),
            note=note,
        )
        return Finished(outcome, False)


def utc_now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
