"""Fakes around the retry loop, shared by test_exchange and test_image: a queued client, a
fake clock whose sleep only advances it, a recording pause, auth and observer. No network."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yarl import URL

from batch_ims.clouds.huawei.ims import ImsService
from batch_ims.settings import RunSettings, StopPolicy
from batch_ims.transport.client import HttpResult, Request, TransportError
from batch_ims.transport.exchange import (
    AttemptCount,
    Exchange,
    Exchanger,
    Pacing,
    Retrying,
    RunHooks,
)
from batch_ims.transport.ratelimit import AdaptiveRate, Pacer, RatePolicy
from batch_ims.transport.retry import RetryPolicy

IMAGE_ID = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
SERVICE = ImsService(URL("https://ims.example.test"))
PATCH = SERVICE.patch(IMAGE_ID)
LATENCY_S = 0.125  # every fake answer takes this long on the fake clock (exact in binary)

Answer = HttpResult | TransportError


def answer(
    status: int,
    code: str = "",
    *,
    retry_after: str | None = None,
    request_id: str = "",
    body: bytes | None = None,
) -> HttpResult:
    """An HTTP answer; an error answer carries an IMS error document with `code`."""
    if body is None:
        body = b'{"id": "x"}'
        if status >= 300:
            body = json.dumps({"error": {"code": code, "message": f"{code} says no"}}).encode()
    request_id = request_id or f"req-{status}"
    return HttpResult(status, body, request_id, retry_after, None, "application/json")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeClient:
    """Answers from a queue; records what was sent and the attempt count at each send."""

    def __init__(self, clock: FakeClock, answers: Sequence[Answer]) -> None:
        self._clock = clock
        self.answers = list(answers)
        self.sent: list[tuple[str, bytes]] = []
        self.count: AttemptCount | None = None
        self.counts_seen: list[int] = []
        self.on_send: Callable[[], None] | None = None

    async def send(self, request: Request, body: bytes = b"") -> HttpResult:
        self.sent.append((request.method, body))
        if self.count is not None:
            self.counts_seen.append(self.count.sent)
        if self.on_send is not None:
            self.on_send()
        self._clock.now += LATENCY_S
        answer = self.answers.pop(0)
        if isinstance(answer, TransportError):
            raise answer
        return answer


class FakeAuth:
    def __init__(self, renewed: bool) -> None:
        self.renewed = renewed
        self.calls: list[tuple[str, str]] = []

    async def on_unauthorized(self, code: str, message: str) -> bool:
        self.calls.append((code, message))
        return self.renewed


@dataclass
class RecordingObserver:
    requests: list[tuple[str, float, int | str]] = field(default_factory=list)
    retries: int = 0
    throttles: int = 0
    sent: int = 0
    backoffs: list[float] = field(default_factory=list)

    def request_sent(self) -> None:
        self.sent += 1

    def request_done(self, method: str, latency_ms: float, answer: Answer) -> None:
        outcome = answer.kind if isinstance(answer, TransportError) else answer.status
        self.requests.append((method, latency_ms, outcome))

    def request_cancelled(self, method: str) -> None:
        self.requests.append((method, 0.0, "cancelled"))

    def backing_off(self, seconds: float) -> None:
        self.backoffs.append(seconds)

    def retry_scheduled(self) -> None:
        self.retries += 1

    def throttle_seen(self) -> None:
        self.throttles += 1


class ExchangeHarness:
    """One Exchanger and every fake around it."""

    def __init__(
        self,
        answers: Sequence[Answer],
        *,
        max_attempts: int = 5,
        max_retry_after_s: float = 120.0,
        ceiling: float = 1000.0,
        renewed: bool = True,
    ) -> None:
        self.clock = FakeClock()
        self.client = FakeClient(self.clock, answers)
        self.auth = FakeAuth(renewed)
        self.observer = RecordingObserver()
        self.stopped = False
        self.pauses: list[float] = []
        self.slot_waits: list[float] = []
        self.on_slot_wait: Callable[[], None] | None = None
        self.on_pause: Callable[[], None] | None = None
        self.rate = AdaptiveRate(RatePolicy(ceiling=ceiling), self.clock)
        self.pacer = Pacer(self.rate, self.clock, self._sleep)
        policy = RetryPolicy(
            max_attempts=max_attempts,
            base_delay_s=0.5,
            max_delay_s=30.0,
            max_retry_after_s=max_retry_after_s,
        )
        self.exchanger = Exchanger(
            client=self.client,  # type: ignore[arg-type]
            answers=SERVICE,
            auth=self.auth,
            pacing=Pacing(self.pacer, self.rate),
            retrying=Retrying(policy, rand=lambda: 0.5, clock=self.clock),
            run=RunHooks(observer=self.observer, stopping=lambda: self.stopped, pause=self._pause),
        )

    async def _sleep(self, seconds: float) -> None:  # waiting for a pacing slot
        self.slot_waits.append(seconds)
        if self.on_slot_wait is not None:
            self.on_slot_wait()
        self.clock.now += seconds

    async def _pause(self, seconds: float) -> bool:  # backoff between attempts
        self.pauses.append(seconds)
        if self.on_pause is not None:
            self.on_pause()
        return self.stopped

    def stop(self) -> None:
        self.stopped = True

    async def exchange(
        self, request: Request = PATCH, count: AttemptCount | None = None
    ) -> Exchange:
        return await self.exchanger.exchange(request, b"[]", count)


def stop_policy(**overrides: Any) -> StopPolicy:
    """The run's default stop policy (from settings), with some limits changed."""
    return dataclasses.replace(RunSettings(manifest=Path("m.csv")).stop_policy, **overrides)
