"""AK/SK and temporary AK/SK: headers signed as huaweicloudsdkcore signs them; project lookup."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
import yarl
from aiohttp import web
from aiohttp.test_utils import TestServer
from huaweicloudsdkcore.auth.credentials import BasicCredentials  # type: ignore[import-untyped]
from huaweicloudsdkcore.sdk_request import SdkRequest  # type: ignore[import-untyped]
from huaweicloudsdkcore.signer.signer import Signer  # type: ignore[import-untyped]
from structlog.testing import capture_logs

from batch_ims.clouds.huawei import AuthFailedError, resolve_authenticator
from batch_ims.clouds.huawei.aksk import AkSkAuthenticator

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
AK = "AKTESTKEY0001"
SK = "sk-test-value"
URL = yarl.URL(
    "https://ims.cn-north-4.myhuaweicloud.com/v2/cloudimages/3b1d5c7e-0000-4000-8000-000000000001"
)
BASE = {"Content-Type": "application/json;charset=UTF-8"}
_ADDED_BY_AIOHTTP = {"accept", "accept-encoding", "user-agent", "content-length", "authorization"}


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sdk_authorization(
    *, method: str, url: yarl.URL, headers: Mapping[str, str], body: bytes
) -> str:
    """The Authorization huaweicloudsdkcore's Signer computes for the same request."""
    request = SdkRequest(
        method=method,
        schema=url.scheme,
        host=url.host,
        resource_path=url.raw_path,
        query_params=list(url.query.items()),
        header_params=dict(headers),
        body=body,
    )
    signed = Signer(BasicCredentials(AK, SK)).sign(request)
    value: str = signed.header_params["Authorization"]
    return value


@dataclass
class FakeIamProjects:
    """`GET /v3/projects?name=`: records each request as received."""

    projects: list[dict[str, str]] = field(default_factory=lambda: [{"id": "p-looked-up"}])
    status: int = 200
    body: dict[str, Any] | None = None
    date: str | None = None
    received: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(
            {
                "method": request.method,
                "url": request.url,
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )
        headers = {"Date": self.date} if self.date else {}
        body = self.body if self.body is not None else {"projects": self.projects}
        return web.json_response(body, status=self.status, headers=headers)


@pytest.fixture
async def iam() -> AsyncIterator[tuple[FakeIamProjects, yarl.URL]]:
    fake = FakeIamProjects()
    app = web.Application()
    app.router.add_get("/v3/projects", fake.handle)
    server = TestServer(app)
    await server.start_server()
    yield fake, server.make_url("")
    await server.close()


def aksk(clock: FakeClock, **extra: str) -> AkSkAuthenticator:
    env = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK, **extra}
    auth = resolve_authenticator(env=env, profile=None, region="cn-north-4", clock=clock)
    assert isinstance(auth, AkSkAuthenticator)
    return auth


async def test_headers_match_the_official_signer_with_project_id() -> None:
    auth = aksk(FakeClock(), HUAWEICLOUD_SDK_PROJECT_ID="p-123")
    body = '[{"op":"replace","path":"/name","value":"Ünïcode, \\"q\\""}]'.encode()
    headers = await auth.headers("PATCH", URL, body, BASE)
    expected = {
        **BASE,
        "X-Project-Id": "p-123",
        "Host": "ims.cn-north-4.myhuaweicloud.com",
        "X-Sdk-Date": "20231114T221320Z",
    }
    assert {k: v for k, v in headers.items() if k != "Authorization"} == expected
    assert headers["Authorization"] == sdk_authorization(
        method="PATCH", url=URL, headers=expected, body=body
    )
    assert "SignedHeaders=content-type;host;x-project-id;x-sdk-date," in headers["Authorization"]


async def test_temporary_keys_send_and_sign_the_security_token() -> None:
    auth = aksk(
        FakeClock(),
        HUAWEICLOUD_SDK_PROJECT_ID="p-1",
        HUAWEICLOUD_SDK_SECURITY_TOKEN="test-sts-value-1",
    )
    headers = await auth.headers("PATCH", URL, b"[]", BASE)
    unsigned = {k: v for k, v in headers.items() if k != "Authorization"}
    assert unsigned["X-Security-Token"] == "test-sts-value-1"
    assert "x-security-token" in headers["Authorization"]
    assert headers["Authorization"] == sdk_authorization(
        method="PATCH", url=URL, headers=unsigned, body=b"[]"
    )
    assert auth.mode == "temporary-aksk"


async def test_sdk_date_follows_the_injected_clock() -> None:
    clock = FakeClock()
    auth = aksk(clock, HUAWEICLOUD_SDK_PROJECT_ID="p-1")
    clock.now += 61
    headers = await auth.headers("GET", URL, b"", {})
    assert headers["X-Sdk-Date"] == "20231114T221421Z"


async def test_caller_headers_are_not_changed() -> None:
    auth = aksk(FakeClock(), HUAWEICLOUD_SDK_PROJECT_ID="p-1")
    base = dict(BASE)
    await auth.headers("PATCH", URL, b"[]", base)
    assert base == BASE


async def test_missing_project_id_is_looked_up_with_a_signed_request(
    iam: tuple[FakeIamProjects, yarl.URL],
) -> None:
    fake, url = iam
    auth = aksk(FakeClock(), HUAWEICLOUD_SDK_IAM_ENDPOINT=str(url))
    async with aiohttp.ClientSession() as session:
        with capture_logs() as logs:
            await auth.prepare(session)
    [sent] = fake.received
    assert (sent["method"], sent["url"].path, dict(sent["url"].query)) == (
        "GET",
        "/v3/projects",
        {"name": "cn-north-4"},
    )
    signed = {k: v for k, v in sent["headers"].items() if k.lower() not in _ADDED_BY_AIOHTTP}
    assert sorted(k.lower() for k in signed) == ["host", "x-sdk-date"]
    assert sent["headers"]["Authorization"] == sdk_authorization(
        method="GET", url=sent["url"], headers=signed, body=sent["body"]
    )
    assert auth.project_id == "p-looked-up"
    resolved = [e for e in logs if e["event"] == "auth.project_resolved"]
    assert resolved[0]["project_id"] == "p-looked-up"
    headers = await auth.headers("PATCH", URL, b"[]", BASE)
    assert headers["X-Project-Id"] == "p-looked-up"


async def test_lookup_with_temporary_keys_signs_the_security_token(
    iam: tuple[FakeIamProjects, yarl.URL],
) -> None:
    fake, url = iam
    auth = aksk(
        FakeClock(),
        HUAWEICLOUD_SDK_IAM_ENDPOINT=str(url),
        HUAWEICLOUD_SDK_SECURITY_TOKEN="test-sts-value-2",
    )
    async with aiohttp.ClientSession() as session:
        await auth.prepare(session)
    [sent] = fake.received
    signed = {k: v for k, v in sent["headers"].items() if k.lower() not in _ADDED_BY_AIOHTTP}
    assert signed["X-Security-Token"] == "test-sts-value-2"
    assert sent["headers"]["Authorization"] == sdk_authorization(
        method="GET", url=sent["url"], headers=signed, body=b""
    )


async def test_given_project_id_needs_no_lookup(iam: tuple[FakeIamProjects, yarl.URL]) -> None:
    fake, url = iam
    auth = aksk(FakeClock(), HUAWEICLOUD_SDK_IAM_ENDPOINT=str(url), HUAWEICLOUD_SDK_PROJECT_ID="p")
    async with aiohttp.ClientSession() as session:
        await auth.prepare(session)
    assert fake.received == []


async def test_no_project_and_no_region_sends_without_project_id() -> None:
    env = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}
    auth = resolve_authenticator(env=env, profile=None, region=None, clock=FakeClock())
    async with aiohttp.ClientSession() as session:
        with capture_logs() as logs:
            await auth.prepare(session)
    headers = await auth.headers("PATCH", URL, b"[]", BASE)
    assert "X-Project-Id" not in headers
    assert [e["event"] for e in logs] == ["auth.project_unknown"]


@pytest.mark.parametrize(
    ("projects", "message"),
    [
        ([], "IAM has no project named 'cn-north-4' for these keys"),
        ([{"id": "p-a"}, {"id": "p-b"}], "several projects named 'cn-north-4' (p-a, p-b)"),
    ],
)
async def test_lookup_needs_exactly_one_project(
    iam: tuple[FakeIamProjects, yarl.URL], projects: list[dict[str, str]], message: str
) -> None:
    fake, url = iam
    fake.projects = projects
    auth = aksk(FakeClock(), HUAWEICLOUD_SDK_IAM_ENDPOINT=str(url))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(AuthFailedError) as caught:
            await auth.prepare(session)
    assert message in str(caught.value)


async def test_refused_lookup_reports_the_clock_skew(
    iam: tuple[FakeIamProjects, yarl.URL],
) -> None:
    fake, url = iam
    fake.status = 401
    fake.body = {
        "error_code": "APIGW.0301",
        "error_msg": "Incorrect IAM authentication information",
    }
    fake.date = format_datetime(datetime.fromtimestamp(T0 - 900, UTC), usegmt=True)
    auth = aksk(FakeClock(), HUAWEICLOUD_SDK_IAM_ENDPOINT=str(url))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(AuthFailedError) as caught:
            await auth.prepare(session)
    assert str(caught.value).startswith(
        "IAM project lookup refused with HTTP 401: authentication failed (APIGW.0301: "
    )
    assert "likely cause: the local clock is 15 min 0 s ahead of the server's" in str(caught.value)


async def test_aksk_never_asks_for_a_retry_on_401() -> None:
    auth = aksk(FakeClock(), HUAWEICLOUD_SDK_PROJECT_ID="p")
    assert await auth.on_unauthorized("APIG.0307", "The token must be updated.") is False
