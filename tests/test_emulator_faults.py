"""The emulator's injected faults, seen by a real client over loopback."""

from __future__ import annotations

import json
from collections import Counter

import aiohttp
import pytest

from batch_ims.emulator import EmulatorConfig, RunningEmulator, generated_image_id
from batch_ims.emulator.faults import Fault, FaultDice, Latency, TokenBucket
from tests.conftest import Serve  # the `serve` and `session` fixtures live there

IMAGE = generated_image_id(0)
JSON = {"Content-Type": "application/json"}
RENAME = json.dumps([{"op": "replace", "path": "/name", "value": "renamed"}]).encode()


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _patch(
    session: aiohttp.ClientSession, running: RunningEmulator, body: bytes = RENAME
) -> tuple[int, str, aiohttp.ClientResponse]:
    url = f"{running.url}/v2/cloudimages/{IMAGE}"
    async with session.patch(url, data=body, headers=JSON) as resp:
        return resp.status, await resp.text(), resp


async def test_over_the_rate_limit_is_429_apig0308_until_the_bucket_refills(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    clock = Monotonic()
    config = EmulatorConfig(images=1, rate_limit=2.0, retry_after_s=0.5)
    running = await serve(config, monotonic=clock)
    statuses = [(await _patch(session, running))[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    _, text, resp = await _patch(session, running)
    assert resp.headers["Retry-After"] == "0.5"
    assert json.loads(text)["error_code"] == "APIG.0308"
    assert json.loads(text)["error_msg"].startswith("The request is throttled")
    clock.now += 0.5
    assert (await _patch(session, running))[0] == 200
    assert running.emulator.apply_counts[IMAGE] == 3
    assert running.emulator.fault_counts["rate_limited"] == 2


def test_token_bucket_burst_is_one_second_worth_by_default_and_refills_smoothly() -> None:
    bucket = TokenBucket(10.0, 10.0, now=0.0)
    assert sum(bucket.take(0.0) for _ in range(15)) == 10
    assert [bucket.take(0.05), bucket.take(0.1), bucket.take(0.1)] == [False, True, False]


async def test_reset_closes_the_connection_without_applying(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=1, reset_rate=1.0))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await _patch(session, running)
    assert running.emulator.images[IMAGE]["name"] == "image-00000"
    assert running.emulator.apply_counts[IMAGE] == 0
    assert running.emulator.fault_counts["reset"] == 1


async def test_drop_after_apply_applies_then_closes_so_a_retried_remove_gets_409(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=1, drop_after_apply_rate=1.0))
    remove = json.dumps([{"op": "remove", "path": "/__description"}]).encode()
    with pytest.raises(aiohttp.ClientConnectionError):
        await _patch(session, running, remove)
    assert "__description" not in running.emulator.images[IMAGE]
    assert running.emulator.apply_counts[IMAGE] == 1
    status, text, _ = await _patch(session, running, remove)
    assert status == 409
    assert "does not exist" in json.loads(text)["error"]["message"]
    assert running.emulator.fault_counts["drop_after_apply"] == 1


async def test_fail_rate_answers_a_mix_of_5xx_with_502_as_a_proxy_html_page(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=1, fail_rate=1.0, fault_seed=7))
    seen: dict[int, str] = {}
    for _ in range(40):
        status, _, resp = await _patch(session, running)
        seen[status] = resp.content_type
    assert sorted(seen) == [500, 502, 503, 504]
    assert seen[502] == "text/html"
    assert seen[500] == "application/json"
    assert running.emulator.apply_counts[IMAGE] == 0


async def test_ims_throttle_rate_answers_400_img0060(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=1, ims_throttle_rate=1.0))
    status, text, _ = await _patch(session, running)
    error = json.loads(text)["error"]
    assert (status, error["code"]) == (400, "IMG.0060")
    assert error["message"].endswith("Please wait and try again.")


async def test_faults_apply_to_get_too(serve: Serve, session: aiohttp.ClientSession) -> None:
    running = await serve(EmulatorConfig(images=1, fail_rate=1.0))
    async with session.get(f"{running.url}/v2/cloudimages", params={"id": IMAGE}) as resp:
        assert resp.status >= 500


async def test_latency_is_awaited_before_answering(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    running = await serve(EmulatorConfig(images=1, latency_ms=250), sleep=sleep)
    assert (await _patch(session, running))[0] == 200
    assert slept == [0.25]


def test_exponential_latency_has_the_mean_asked_and_a_long_tail_reproducibly() -> None:
    config = EmulatorConfig(latency_ms=250, latency_distribution="exponential", fault_seed=5)
    latency, again = Latency(config), Latency(config)

    draws = [latency.draw() for _ in range(20_000)]

    assert [again.draw() for _ in range(100)] == draws[:100]  # the same seed, the same delays
    mean = sum(draws) / len(draws)
    assert abs(mean - 0.25) < 0.01
    assert max(draws) > 5 * 0.25  # the tail: a few answers far slower than the mean
    assert sorted(draws)[len(draws) // 2] < 0.25  # and most quicker than it


def test_constant_latency_is_the_same_for_every_answer_and_none_without_one() -> None:
    steady = Latency(EmulatorConfig(latency_ms=40))

    assert [steady.draw() for _ in range(3)] == [0.04, 0.04, 0.04]
    assert Latency(EmulatorConfig()).draw() == 0.0


def test_an_unknown_latency_distribution_is_refused() -> None:
    with pytest.raises(ValueError, match="latency_distribution"):
        EmulatorConfig(latency_ms=10, latency_distribution="pareto")


def test_fault_draws_are_reproducible_and_match_the_configured_shares() -> None:
    config = EmulatorConfig(reset_rate=0.1, fail_rate=0.2, ims_throttle_rate=0.1, fault_seed=3)
    dice_a, dice_b = FaultDice(config), FaultDice(config)
    draws_a = [dice_a.before_processing() for _ in range(10_000)]
    draws_b = [dice_b.before_processing() for _ in range(10_000)]
    assert draws_a == draws_b
    shares = Counter(fault for fault, _ in draws_a)
    assert abs(shares[Fault.RESET] / 10_000 - 0.1) < 0.02
    assert abs(shares[Fault.FAIL] / 10_000 - 0.2) < 0.02
    assert abs(shares[Fault.IMS_THROTTLE] / 10_000 - 0.1) < 0.02


def test_no_faults_configured_draws_nothing() -> None:
    dice = FaultDice(EmulatorConfig())
    assert {dice.before_processing() for _ in range(100)} == {(Fault.NONE, 0)}
    assert not any(dice.drop_after_apply() for _ in range(100))
