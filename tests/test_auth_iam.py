"""IAM password sign-in and token renewal, against a real IAM stand-in on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import yarl
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from batch_ims.clouds.auth import SignInUnreachableError, network_reason
from batch_ims.clouds.huawei import AuthFailedError, resolve_authenticator
from batch_ims.clouds.huawei.iam import PasswordIdentity, sign_in_body
from batch_ims.clouds.huawei.token import IamPasswordAuthenticator, StaticTokenAuthenticator

T0 = 1_700_000_000.0
NO_URL = yarl.URL()
EXPIRED_MESSAGE = "Incorrect IAM authentication information: token expires, expires_at: x"


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class FakeIam:
    """`POST /v3/auth/tokens`: tokens TOKEN-1, TOKEN-2, ... living `ttl` seconds."""

    ttl: float = 86400.0
    refuse: bool = False
    omit_subject_token: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: yarl.URL = NO_URL

    async def tokens(self, request: web.Request) -> web.Response:
        self.requests.append(
            {
                "query": dict(request.query),
                "content_type": request.headers.get("Content-Type"),
                "body": await request.json(),
            }
        )
        if self.refuse:
            body = {
                "error": {
                    "code": 401,
                    "message": "The username or password is wrong.",
                    "title": "Unauthorized",
                }
            }
            return web.json_response(body, status=401)
        issued = T0  # IAM's own clock: unrelated to ours on purpose
        scope = request_scope(self.requests[-1]["body"])
        token = {
            "issued_at": iso(issued),
            "expires_at": iso(issued + self.ttl),
            "project": {"id": scope.get("id", "p-from-iam"), "name": "cn-north-4"},
        }
        headers = (
            {} if self.omit_subject_token else {"X-Subject-Token": f"TOKEN-{len(self.requests)}"}
        )
        return web.json_response({"token": token}, status=201, headers=headers)


def request_scope(body: dict[str, Any]) -> dict[str, str]:
    scope: dict[str, str] = body["auth"]["scope"]["project"]
    return scope


@pytest.fixture
async def iam() -> AsyncIterator[FakeIam]:
    fake = FakeIam()
    app = web.Application()
    app.router.add_post("/v3/auth/tokens", fake.tokens)
    server = TestServer(app)
    await server.start_server()
    fake.url = server.make_url("")
    yield fake
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def iam_env(fake: FakeIam, **extra: str) -> dict[str, str]:
    return {
        "BATCH_IMS_IAM_USER": "ops",
        "BATCH_IMS_IAM_PASSWORD": "test-password-1",
        "BATCH_IMS_IAM_DOMAIN": "acme",
        "HUAWEICLOUD_SDK_IAM_ENDPOINT": str(fake.url),
        **extra,
    }


def make_auth(fake: FakeIam, clock: FakeClock, **extra: str) -> IamPasswordAuthenticator:
    auth = resolve_authenticator(
        env=iam_env(fake, **extra), profile=None, region="cn-north-4", clock=clock
    )
    assert isinstance(auth, IamPasswordAuthenticator)
    return auth


URL = yarl.URL("https://ims.cn-north-4.myhuaweicloud.com/v2/cloudimages/x")
BASE = {"Content-Type": "application/json;charset=UTF-8"}


def test_sign_in_body_scopes_by_project_id_or_region_name() -> None:
    identity = PasswordIdentity(user="ops", domain="acme", password="pw")
    by_id = sign_in_body(identity, project_id="p-9", region="cn-north-4")
    by_name = sign_in_body(identity, project_id=None, region="cn-north-4")
    assert by_id == {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "ops", "password": "pw", "domain": {"name": "acme"}}},
            },
            "scope": {"project": {"id": "p-9"}},
        }
    }
    assert by_name["auth"]["scope"] == {"project": {"name": "cn-north-4"}}


async def test_sign_in_request_over_http_and_token_reused_for_the_run(
    iam: FakeIam, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(iam, FakeClock())
    await auth.prepare(session)
    await auth.prepare(session)
    headers = [await auth.headers("PATCH", URL, b"[]", BASE) for _ in range(50)]
    assert len(iam.requests) == 1
    assert iam.requests[0]["query"] == {"nocatalog": "true"}
    assert iam.requests[0]["content_type"] == "application/json;charset=UTF-8"
    assert iam.requests[0]["body"] == sign_in_body(
        PasswordIdentity(user="ops", domain="acme", password="test-password-1"),
        project_id=None,
        region="cn-north-4",
    )
    assert headers[-1] == {**BASE, "X-Auth-Token": "TOKEN-1"}
    assert auth.project_id == "p-from-iam"
    assert auth.sign_ins == 1


async def test_sign_in_scoped_by_project_id_when_given(
    iam: FakeIam, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(iam, FakeClock(), HUAWEICLOUD_SDK_PROJECT_ID="p-42")
    await auth.prepare(session)
    assert request_scope(iam.requests[0]["body"]) == {"id": "p-42"}
    assert auth.project_id == "p-42"


async def test_token_is_renewed_shortly_before_it_expires(
    iam: FakeIam, session: aiohttp.ClientSession
) -> None:
    clock = FakeClock(T0 + 5000)  # our clock differs from IAM's: only the token's life counts
    auth = make_auth(iam, clock)
    await auth.prepare(session)
    clock.now += 86400 - 601
    before = await auth.headers("PATCH", URL, b"", BASE)
    clock.now += 2
    after = await auth.headers("PATCH", URL, b"", BASE)
    assert (before["X-Auth-Token"], after["X-Auth-Token"]) == ("TOKEN-1", "TOKEN-2")
    assert auth.sign_ins == 2


async def test_a_short_lived_token_is_renewed_at_half_its_life(
    iam: FakeIam, session: aiohttp.ClientSession
) -> None:
    iam.ttl = 120
    clock = FakeClock()
    auth = make_auth(iam, clock)
    await auth.prepare(session)
    clock.now += 59
    assert (await auth.headers("GET", URL, b"", {}))["X-Auth-Token"] == "TOKEN-1"
    clock.now += 2
    assert (await auth.headers("GET", URL, b"", {}))["X-Auth-Token"] == "TOKEN-2"


async def test_concurrent_callers_share_one_renewal(
    iam: FakeIam, session: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    auth = make_auth(iam, clock)
    await auth.prepare(session)
    clock.now += 86400
    results = await asyncio.gather(*(auth.headers("PATCH", URL, b"", BASE) for _ in range(20)))
    assert {r["X-Auth-Token"] for r in results} == {"TOKEN-2"}
    assert len(iam.requests) == 2


async def test_401_token_expired_fetches_one_new_token_for_all_callers(
    iam: FakeIam, session: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    auth = make_auth(iam, clock)
    await auth.prepare(session)
    clock.now += 3600
    answers = await asyncio.gather(
        *(auth.on_unauthorized("APIG.0301", EXPIRED_MESSAGE) for _ in range(5))
    )
    assert answers == [True] * 5
    assert auth.sign_ins == 2
    assert (await auth.headers("PATCH", URL, b"", BASE))["X-Auth-Token"] == "TOKEN-2"


async def test_failed_renewal_keeps_the_old_token_and_waits_before_asking_again(
    iam: FakeIam, session: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    auth = make_auth(iam, clock)
    await auth.prepare(session)
    iam.refuse = True
    clock.now += 86400 - 300
    with capture_logs() as logs:
        answers = await asyncio.gather(*(auth.headers("GET", URL, b"", {}) for _ in range(10)))
        later = await auth.headers("GET", URL, b"", {})
    assert [a["X-Auth-Token"] for a in [*answers, later]] == ["TOKEN-1"] * 11
    assert len(iam.requests) == 2  # one failed renewal, not eleven
    assert [e["event"] for e in logs] == ["auth.token_renewal_failed"]
    iam.refuse = False
    clock.now += 61
    assert (await auth.headers("GET", URL, b"", {}))["X-Auth-Token"] == "TOKEN-3"


async def test_401_token_expired_when_iam_refuses_a_new_token_gives_up(
    iam: FakeIam, session: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    auth = make_auth(iam, clock)
    await auth.prepare(session)
    iam.refuse = True
    clock.now += 3600
    answers = await asyncio.gather(
        *(auth.on_unauthorized("APIG.0307", "The token must be updated.") for _ in range(5))
    )
    assert answers == [False] * 5
    assert len(iam.requests) == 2  # one refused renewal for all five


async def test_401_for_another_reason_is_not_retried(
    iam: FakeIam, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(iam, FakeClock())
    await auth.prepare(session)
    renewed = await auth.on_unauthorized(
        "APIG.0301", "Incorrect IAM authentication information: decrypt token fail"
    )
    assert (renewed, auth.sign_ins) == (False, 1)


async def test_static_token_is_sent_as_is_and_never_renewed() -> None:
    auth = resolve_authenticator(
        env={"BATCH_IMS_AUTH_TOKEN": "test-static-token-1"}, profile=None, region="cn-north-4"
    )
    assert isinstance(auth, StaticTokenAuthenticator)
    async with aiohttp.ClientSession() as client:
        await auth.prepare(client)
    assert await auth.headers("PATCH", URL, b"[]", BASE) == {
        **BASE,
        "X-Auth-Token": "test-static-token-1",
    }
    assert await auth.on_unauthorized("APIG.0307", "The token must be updated.") is False
    assert auth.describe() == "token from BATCH_IMS_AUTH_TOKEN, region cn-north-4"


async def test_refused_sign_in_raises_a_one_line_hint_without_the_password(
    iam: FakeIam, session: aiohttp.ClientSession
) -> None:
    iam.refuse = True
    auth = make_auth(iam, FakeClock())
    with pytest.raises(AuthFailedError) as caught:
        await auth.prepare(session)
    text = str(caught.value)
    assert text.startswith("IAM sign-in refused with HTTP 401: authentication failed (401: ")
    assert "BATCH_IMS_IAM_USER, BATCH_IMS_IAM_PASSWORD, BATCH_IMS_IAM_DOMAIN" in text
    assert "test-password-1" not in text
    assert "\n" not in text


async def test_sign_in_without_subject_token_is_refused(
    iam: FakeIam, session: aiohttp.ClientSession
) -> None:
    iam.omit_subject_token = True
    auth = make_auth(iam, FakeClock())
    with pytest.raises(AuthFailedError, match="without X-Subject-Token"):
        await auth.prepare(session)


async def test_unreachable_iam_is_its_own_error_naming_the_host_and_the_refusal(
    session: aiohttp.ClientSession,
) -> None:
    app = web.Application()
    server = TestServer(app)
    await server.start_server()
    closed = server.make_url("")
    await server.close()
    fake = FakeIam(url=closed)
    auth = make_auth(fake, FakeClock())
    with pytest.raises(SignInUnreachableError) as failure:
        await auth.prepare(session)
    assert (failure.value.host, failure.value.reason) == ("127.0.0.1", "connection refused")
    assert str(failure.value).startswith(f"could not reach IAM at {closed} (connection refused)")


def _raised_from(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as cause:
            raise outer from cause
    except BaseException as chained:
        return chained


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_raised_from(aiohttp.ClientError("x"), TimeoutError()), "timed out"),
        (aiohttp.ConnectionTimeoutError("Connection timeout to host"), "timed out"),
        (
            _raised_from(
                aiohttp.ClientError("x"), socket.gaierror(-2, "Name or service not known")
            ),
            "DNS lookup failed: Name or service not known",
        ),
        (_raised_from(OSError("y"), ConnectionRefusedError(111, "refused")), "connection refused"),
        (aiohttp.ServerDisconnectedError(), "ServerDisconnectedError: Server disconnected"),
    ],
)
def test_the_reason_named_is_the_deepest_os_cause(error: BaseException, expected: str) -> None:
    assert network_reason(error) == expected


async def test_token_obtained_is_logged_without_the_token(
    iam: FakeIam, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(iam, FakeClock())
    with capture_logs() as logs:
        await auth.prepare(session)
    obtained = [e for e in logs if e["event"] == "auth.token_obtained"]
    assert obtained == [
        {
            "event": "auth.token_obtained",
            "reason": "start",
            "project_id": "p-from-iam",
            "expires_in_s": 86400,
            "log_level": "info",
        }
    ]


def test_describe_names_user_account_endpoint_and_scope() -> None:
    fake = FakeIam(url=yarl.URL("https://iam.example.com"))
    auth = make_auth(fake, FakeClock())
    assert auth.describe() == (
        "IAM password sign-in as 'ops' of account 'acme' at https://iam.example.com, "
        "region cn-north-4"
    )


async def test_headers_before_prepare_is_a_programming_error() -> None:
    auth = make_auth(FakeIam(url=yarl.URL("https://iam.example.com")), FakeClock())
    with pytest.raises(RuntimeError, match="prepare"):
        await auth.headers("GET", URL, b"", {})
