"""The emulator's authentication: requests signed by the official SDK, tokens, IAM, projects."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import pytest
import yarl
from huaweicloudsdkcore.auth.credentials import BasicCredentials  # type: ignore[import-untyped]
from huaweicloudsdkcore.sdk_request import SdkRequest  # type: ignore[import-untyped]
from huaweicloudsdkcore.signer.signer import Signer  # type: ignore[import-untyped]

from batch_ims.emulator import (
    DEFAULT_PROJECT_ID,
    EmulatorConfig,
    RunningEmulator,
    generated_image_id,
)
from tests.conftest import Serve  # the `serve` and `session` fixtures live there

T0 = 1_750_000_000.0
AK, SK = "AKEMULATORTEST", "sk-emulator-secret"
TEMP_AK, TEMP_SK, SECURITY_TOKEN = "AKTEMPORARY", "sk-temporary", "st-temporary-token"
PROJECT = "0123456789abcdef0123456789abcdef"
IMAGE = generated_image_id(0)
OPS = json.dumps([{"op": "replace", "path": "/name", "value": "signed"}]).encode()


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _keys_config(**knobs: Any) -> EmulatorConfig:
    return EmulatorConfig(
        images=2,
        keys=((AK, SK), (TEMP_AK, TEMP_SK)),
        security_tokens={TEMP_AK: SECURITY_TOKEN},
        project_id=PROJECT,
        **knobs,
    )


def _sdk_signed(
    url: str,
    method: str,
    body: bytes,
    *,
    ak: str = AK,
    sk: str = SK,
    headers: dict[str, str] | None = None,
    query: Sequence[tuple[str, str]] = (),
    at: float = T0,
) -> dict[str, str]:
    """Headers signed by huaweicloudsdkcore's Signer (the reference), dated `at`."""
    parsed = yarl.URL(url)
    params = {"X-Sdk-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at))}
    params.update(headers or {"Content-Type": "application/json;charset=UTF-8"})
    request = SdkRequest(
        method=method,
        schema=parsed.scheme,
        host=f"{parsed.host}:{parsed.port}",
        resource_path=parsed.path,
        query_params=list(query),
        header_params=params,
        body=body,
    )
    Signer(BasicCredentials(ak, sk)).sign(request)
    return dict(request.header_params)


async def _signed_patch(
    session: aiohttp.ClientSession, running: RunningEmulator, **kwargs: Any
) -> tuple[int, Any]:
    url = f"{running.url}/v2/cloudimages/{IMAGE}"
    headers = kwargs.pop("headers", None) or {
        "Content-Type": "application/json;charset=UTF-8",
        "X-Project-Id": PROJECT,
    }
    signed = _sdk_signed(url, "PATCH", OPS, headers=headers, **kwargs)
    async with session.patch(url, data=OPS, headers=signed) as resp:
        return resp.status, await resp.json()


async def test_patch_signed_by_the_official_sdk_is_accepted(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(_keys_config(), clock=Clock())
    status, body = await _signed_patch(session, running)
    assert (status, body["name"]) == (200, "signed")


async def test_signed_get_with_query_string_is_accepted(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(_keys_config(), clock=Clock())
    url = f"{running.url}/v2/cloudimages"
    headers = {"Content-Type": "application/json", "X-Project-Id": PROJECT}
    signed = _sdk_signed(url, "GET", b"", headers=headers, query=[("id", IMAGE)])
    async with session.get(url, params={"id": IMAGE}, headers=signed) as resp:
        assert resp.status == 200
        assert [image["id"] for image in (await resp.json())["images"]] == [IMAGE]


async def test_wrong_sk_is_401_apig0301_verify_aksk_signature_fail(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(_keys_config(), clock=Clock())
    status, body = await _signed_patch(session, running, sk="not-the-secret")
    assert (status, body["error_code"]) == (401, "APIG.0301")
    assert body["error_msg"].startswith(
        "Incorrect IAM authentication information: verify aksk signature fail"
    )
    assert running.emulator.apply_counts[IMAGE] == 0


async def test_unknown_ak_is_401_ak_not_exist(serve: Serve, session: aiohttp.ClientSession) -> None:
    running = await serve(_keys_config(), clock=Clock())
    status, body = await _signed_patch(session, running, ak="AKUNKNOWN")
    assert status == 401
    assert body["error_msg"].endswith("ak:AKUNKNOWN,err:ak not exist")


async def test_signature_dated_beyond_the_allowed_skew_is_401(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(_keys_config(), clock=Clock(T0 + 20 * 60))
    status, body = await _signed_patch(session, running)
    assert (status, body["error_code"]) == (401, "APIG.0301")


async def test_request_without_credentials_is_401_when_keys_are_configured(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(_keys_config(), clock=Clock())
    url = f"{running.url}/v2/cloudimages/{IMAGE}"
    headers = {"Content-Type": "application/json", "X-Project-Id": PROJECT}
    async with session.patch(url, data=OPS, headers=headers) as resp:
        body = await resp.json()
    assert resp.status == 401
    assert body == {
        "error_code": "APIG.0301",
        "error_msg": "Incorrect IAM authentication information: x-auth-token not found",
        "request_id": resp.headers["X-Request-Id"],
    }


async def test_wrong_project_id_is_403_img0030(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(_keys_config(), clock=Clock())
    headers = {"Content-Type": "application/json", "X-Project-Id": "another-project"}
    status, body = await _signed_patch(session, running, headers=headers)
    assert (status, body["error"]["code"]) == (403, "IMG.0030")


async def test_temporary_key_with_signed_security_token_is_accepted(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(_keys_config(), clock=Clock())
    headers = {
        "Content-Type": "application/json",
        "X-Project-Id": PROJECT,
        "X-Security-Token": SECURITY_TOKEN,
    }
    status, _ = await _signed_patch(session, running, ak=TEMP_AK, sk=TEMP_SK, headers=headers)
    assert status == 200


@pytest.mark.parametrize(
    ("token", "problem"),
    [(None, "security token required"), ("st-wrong", "security token invalid")],
)
async def test_temporary_key_without_its_security_token_is_401(
    serve: Serve, session: aiohttp.ClientSession, token: str | None, problem: str
) -> None:
    running = await serve(_keys_config(), clock=Clock())
    headers = {"Content-Type": "application/json", "X-Project-Id": PROJECT}
    if token is not None:
        headers["X-Security-Token"] = token
    status, body = await _signed_patch(session, running, ak=TEMP_AK, sk=TEMP_SK, headers=headers)
    assert status == 401
    assert problem in body["error_msg"]


async def test_security_token_that_is_not_signed_is_401(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(_keys_config(), clock=Clock())
    url = f"{running.url}/v2/cloudimages/{IMAGE}"
    headers = {"Content-Type": "application/json", "X-Project-Id": PROJECT}
    signed = _sdk_signed(url, "PATCH", OPS, ak=TEMP_AK, sk=TEMP_SK, headers=headers)
    signed["X-Security-Token"] = SECURITY_TOKEN  # added after signing
    async with session.patch(url, data=OPS, headers=signed) as resp:
        body = await resp.json()
    assert resp.status == 401
    assert "x-security-token must be signed" in body["error_msg"]


async def test_configured_token_is_accepted_and_an_unknown_one_is_not(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=1, tokens=("tok-1",)), clock=Clock())
    url = f"{running.url}/v2/cloudimages/{IMAGE}"
    results = []
    for token in ("tok-1", "tok-2"):
        headers = {"Content-Type": "application/json", "X-Auth-Token": token}
        async with session.patch(url, data=OPS, headers=headers) as resp:
            results.append((resp.status, (await resp.json()).get("error_msg")))
    assert results == [
        (200, None),
        (401, "Incorrect IAM authentication information: decrypt token fail"),
    ]


def _password_body(password: str, scope: dict[str, Any]) -> dict[str, Any]:
    user = {"name": "alice", "password": password, "domain": {"name": "acme"}}
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": scope},
        }
    }


def _iam_config(**knobs: Any) -> EmulatorConfig:
    users = (("acme", "alice", "pa55word"),)
    return EmulatorConfig(images=1, iam_users=users, project_id=PROJECT, **knobs)


async def test_iam_password_sign_in_issues_a_token_that_ims_accepts(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(_iam_config(project_name="eu-west-101"), clock=Clock())
    body = _password_body("pa55word", {"name": "eu-west-101"})
    async with session.post(f"{running.url}/v3/auth/tokens", json=body) as resp:
        assert resp.status == 201
        token = resp.headers["X-Subject-Token"]
        issued = (await resp.json())["token"]
    assert issued["expires_at"] == "2025-06-16T15:06:40.000000Z"
    assert issued["project"]["id"] == PROJECT
    headers = {"Content-Type": "application/json", "X-Auth-Token": token}
    async with session.patch(
        f"{running.url}/v2/cloudimages/{IMAGE}", data=OPS, headers=headers
    ) as r:
        assert r.status == 200
    assert running.emulator.token_issued == 1


async def test_iam_wrong_password_is_401_and_issues_nothing(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(_iam_config(), clock=Clock())
    body = _password_body("guess", {"id": PROJECT})
    async with session.post(f"{running.url}/v3/auth/tokens", json=body) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["message"] == "The username or password is wrong."
    assert running.emulator.token_issued == 0


async def test_iam_token_past_its_expiry_is_401_token_expires(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    running = await serve(_iam_config(token_ttl_s=60), clock=clock)
    body = _password_body("pa55word", {"id": PROJECT})
    async with session.post(f"{running.url}/v3/auth/tokens", json=body) as resp:
        token = resp.headers["X-Subject-Token"]
    clock.now += 61
    headers = {"Content-Type": "application/json", "X-Auth-Token": token}
    async with session.patch(
        f"{running.url}/v2/cloudimages/{IMAGE}", data=OPS, headers=headers
    ) as r:
        answer = await r.json()
    assert (r.status, answer["error_code"]) == (401, "APIG.0301")
    assert "token expires, expires_at: 2025-06-15T15:07:40+00:00" in answer["error_msg"]


async def test_projects_lookup_by_region_name_needs_a_signature(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(_keys_config(project_name="eu-west-101"), clock=Clock())
    url = f"{running.url}/v3/projects"
    query = [("name", "eu-west-101")]
    signed = _sdk_signed(url, "GET", b"", headers={"Content-Type": "application/json"}, query=query)
    async with session.get(url, params=query, headers=signed) as resp:
        projects = (await resp.json())["projects"]
    assert [(p["id"], p["name"]) for p in projects] == [(PROJECT, "eu-west-101")]
    async with session.get(url, params=query) as resp:
        assert resp.status == 401


async def test_projects_lookup_without_configured_project_returns_default_id(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(), clock=Clock())
    async with session.get(f"{running.url}/v3/projects", params={"name": "ap-1"}) as resp:
        projects = (await resp.json())["projects"]
    assert projects == [{"id": DEFAULT_PROJECT_ID, "name": "ap-1", "enabled": True}]
