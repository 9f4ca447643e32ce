"""Every auth mode against the emulator's gateway and IAM, over loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
import yarl

from batch_ims.clouds.huawei import (
    Authenticator,
    failure_hint,
    is_auth_failure,
    resolve_authenticator,
)
from batch_ims.clouds.huawei.errors import parse_error
from batch_ims.emulator import EmulatorConfig, RunningEmulator, generated_image_id, start_emulator

T0 = 1_750_000_000.0
AK, SK, STS = "AKEMULATOR01", "emulator-sk", "emulator-sts"
TOKEN = "static-token-1"
PROJECT = "0a1b2c3d4e5f"
REGION = "cn-north-4"
BASE = {"Content-Type": "application/json;charset=UTF-8"}
BODY = json.dumps([{"op": "replace", "path": "/name", "value": "renamed"}]).encode()


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def config(**overrides: object) -> EmulatorConfig:
    values: dict[str, object] = {
        "images": 3,
        "keys": ((AK, SK), ("AKTEMPORARY1", "test-temporary-sk")),
        "security_tokens": (("AKTEMPORARY1", STS),),
        "tokens": (TOKEN,),
        "iam_users": (("acme", "ops", "test-password-ops"),),
        "project_id": PROJECT,
        "project_name": REGION,
    }
    values.update(overrides)
    return EmulatorConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def emulator_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def emulator(emulator_clock: FakeClock) -> AsyncIterator[RunningEmulator]:
    running = await start_emulator(config(), clock=emulator_clock)
    yield running
    await running.close()


async def patch(
    session: aiohttp.ClientSession, auth: Authenticator, base_url: str
) -> tuple[int, str, str, str | None]:
    url = yarl.URL(base_url) / "v2" / "cloudimages" / generated_image_id(0)
    headers = await auth.headers("PATCH", url, BODY, BASE)
    async with session.patch(url, data=BODY, headers=headers) as response:
        raw = await response.read()
        error = parse_error(response.status, raw, response.content_type)
        return response.status, error.code, error.message, response.headers.get("Date")


def env_for(running: RunningEmulator, **values: str) -> dict[str, str]:
    return {"HUAWEICLOUD_SDK_IAM_ENDPOINT": running.url, **values}


@pytest.mark.parametrize(
    "values",
    [
        {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK, "HUAWEICLOUD_SDK_PROJECT_ID": PROJECT},
        {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK},  # project id looked up from IAM
        {
            "HUAWEICLOUD_SDK_AK": "AKTEMPORARY1",
            "HUAWEICLOUD_SDK_SK": "test-temporary-sk",
            "HUAWEICLOUD_SDK_SECURITY_TOKEN": STS,
        },
        {"BATCH_IMS_AUTH_TOKEN": TOKEN},
        {
            "BATCH_IMS_IAM_USER": "ops",
            "BATCH_IMS_IAM_PASSWORD": "test-password-ops",
            "BATCH_IMS_IAM_DOMAIN": "acme",
        },
    ],
    ids=["aksk", "aksk-lookup", "temporary-aksk", "token", "iam-password"],
)
async def test_every_mode_is_accepted_by_the_emulator(
    emulator: RunningEmulator, session: aiohttp.ClientSession, values: dict[str, str]
) -> None:
    auth = resolve_authenticator(
        env=env_for(emulator, **values), profile=None, region=REGION, clock=FakeClock()
    )
    await auth.prepare(session)
    results = [await patch(session, auth, emulator.url) for _ in range(3)]
    assert [r[0] for r in results] == [200, 200, 200]
    if auth.mode in ("aksk", "temporary-aksk", "iam-password"):
        assert auth.project_id == PROJECT


async def test_iam_token_is_requested_once_for_many_requests(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    values = {"BATCH_IMS_IAM_USER": "ops", "BATCH_IMS_IAM_PASSWORD": "test-password-ops"}
    auth = resolve_authenticator(
        env=env_for(emulator, **values, BATCH_IMS_IAM_DOMAIN="acme"),
        profile=None,
        region=REGION,
        clock=FakeClock(),
    )
    await auth.prepare(session)
    statuses = [(await patch(session, auth, emulator.url))[0] for _ in range(20)]
    assert statuses == [200] * 20
    assert emulator.emulator.token_issued == 1


async def test_expired_token_answer_gets_one_new_token_and_the_retry_passes(
    emulator: RunningEmulator, emulator_clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    values = {"BATCH_IMS_IAM_USER": "ops", "BATCH_IMS_IAM_PASSWORD": "test-password-ops"}
    our_clock = FakeClock()
    auth = resolve_authenticator(
        env=env_for(emulator, **values, BATCH_IMS_IAM_DOMAIN="acme"),
        profile=None,
        region=REGION,
        clock=our_clock,
    )
    await auth.prepare(session)
    emulator_clock.now += 86400 + 1  # the server sees the token expire; our clock does not
    our_clock.now += 3600
    status, code, message, _ = await patch(session, auth, emulator.url)
    assert (status, is_auth_failure(status, code)) == (401, True)
    assert await auth.on_unauthorized(code, message) is True
    assert (await patch(session, auth, emulator.url))[0] == 200
    assert emulator.emulator.token_issued == 2


async def test_wrong_secret_key_is_an_auth_failure_with_a_useful_hint(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    values = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": "test-wrong-sk"}
    env = env_for(emulator, **values, HUAWEICLOUD_SDK_PROJECT_ID=PROJECT)
    auth = resolve_authenticator(env=env, profile=None, region=REGION, clock=FakeClock())
    await auth.prepare(session)
    status, code, message, date = await patch(session, auth, emulator.url)
    assert (status, code, is_auth_failure(status, code)) == (401, "APIG.0301", True)
    assert await auth.on_unauthorized(code, message) is False
    hint = failure_hint(
        code=code,
        message=message,
        server_date=date,
        now=datetime.fromtimestamp(T0, UTC),
        mode=auth.mode,
        region=auth.region,
        project_id=auth.project_id,
    )
    assert "likely cause: the secret key does not match the access key" in hint


async def test_wrong_project_id_is_an_auth_failure(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    values = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}
    env = env_for(emulator, **values, HUAWEICLOUD_SDK_PROJECT_ID="other-project")
    auth = resolve_authenticator(env=env, profile=None, region=REGION, clock=FakeClock())
    await auth.prepare(session)
    status, code, _, _ = await patch(session, auth, emulator.url)
    assert (status, code, is_auth_failure(status, code)) == (403, "IMG.0030", True)


async def test_skewed_local_clock_shows_in_the_hint(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    values = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}
    env = env_for(emulator, **values, HUAWEICLOUD_SDK_PROJECT_ID=PROJECT)
    skewed = FakeClock(T0 + 20 * 60)  # 20 minutes ahead of the emulator
    auth = resolve_authenticator(env=env, profile=None, region=REGION, clock=skewed)
    await auth.prepare(session)
    status, code, message, date = await patch(session, auth, emulator.url)
    assert status == 401
    hint = failure_hint(
        code=code,
        message=message,
        server_date=date,
        now=datetime.fromtimestamp(skewed(), UTC),
        mode=auth.mode,
        region=auth.region,
        project_id=auth.project_id,
    )
    assert "likely cause: the local clock is 20 min 0 s ahead of the server's" in hint
