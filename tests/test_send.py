"""ImageSender: what is sent, and what is not, around a stop (no network: a fake client)."""

from __future__ import annotations

from batch_ims.transport.client import HttpResult, TransportError
from batch_ims.run.stop import RunControl, StopPolicy, StopReason
from batch_ims.models import ImageTask, Op, Status
from batch_ims.transport.ratelimit import AdaptiveRate, Pacer, RatePolicy
from batch_ims.transport.retry import RetryPolicy
from batch_ims.send import ImageSender, SendOptions
from batch_ims.stats import RunStats

TASK = ImageTask("0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", (Op("replace", "/name", "x"),), (2,))


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Client:
    def __init__(self, answers: list[HttpResult | TransportError]) -> None:
        self.answers = answers
        self.patches = 0

    async def patch_image(self, image_id: str, body: bytes) -> HttpResult:
        self.patches += 1
        answer = self.answers.pop(0)
        if isinstance(answer, TransportError):
            raise answer
        return answer

    async def get_image(self, image_id: str) -> HttpResult:
        raise AssertionError("no GET expected")


class _Auth:
    async def on_unauthorized(self, code: str, message: str) -> bool:
        return False


def _sender(client: _Client, control: RunControl, *, on_sleep: object = None) -> ImageSender:
    clock = _Clock()

    async def sleep(seconds: float) -> None:  # waiting for a pacing slot
        clock.now += seconds
        if callable(on_sleep):
            on_sleep()

    async def pause(seconds: float) -> bool:  # backoff between attempts
        return control.stopping

    rate = AdaptiveRate(RatePolicy(ceiling=1.0), clock)
    return ImageSender(
        client=client,  # type: ignore[arg-type]
        pacer=Pacer(rate, clock, sleep),
        rate=rate,
        options=SendOptions(policy=RetryPolicy(max_attempts=5)),
        stats=RunStats(),
        control=control,
        auth=_Auth(),
        is_auth_failure=lambda status, code: False,
        pause=pause,
        rand=lambda: 0.5,
        clock=clock,
    )


def _ok() -> HttpResult:
    return HttpResult(200, b"{}", "req-1", None, None, "application/json")


async def test_a_stop_while_waiting_for_a_rate_slot_sends_nothing() -> None:
    control = RunControl(StopPolicy())
    client = _Client([_ok(), _ok()])
    sender = _sender(client, control, on_sleep=lambda: control.stop(StopReason.SIGTERM))

    first = await sender.send(TASK)  # the first slot is free: sent
    second = await sender.send(TASK)  # must wait one second: the stop comes meanwhile

    assert first.outcome.status is Status.SUCCEEDED
    assert (second.outcome.status, second.outcome.note) == (
        Status.ABORTED,
        "not sent: the run stopped first",
    )
    assert second.outcome.attempts == 0
    assert client.patches == 1


async def test_a_lost_answer_then_a_stop_is_aborted_and_says_it_may_have_been_applied() -> None:
    control = RunControl(StopPolicy())
    lost = TransportError("connection_error", "ServerDisconnectedError")
    client = _Client([lost])
    sender = _sender(client, control)
    original = client.patch_image  # the stop arrives while the first attempt is in flight

    async def patch_then_stop(image_id: str, body: bytes) -> HttpResult:
        control.stop(StopReason.SIGINT)
        return await original(image_id, body)

    client.patch_image = patch_then_stop  # type: ignore[method-assign]

    finished = await sender.send(TASK)

    assert finished.outcome.status is Status.ABORTED
    assert finished.outcome.error_code == "connection_error"
    assert "may have been applied" in finished.outcome.note
    assert client.patches == 1
