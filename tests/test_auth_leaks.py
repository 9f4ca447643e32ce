"""Every auth mode, run with recognisable secrets: none may show up outside the request headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import yarl
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from batch_ims.clouds.huawei import (
    AuthFailedError,
    failure_hint,
    load_auth_settings,
    resolve_authenticator,
)
from batch_ims.clouds.huawei.credfile import read_profile
from batch_ims.clouds.huawei.iam import PasswordIdentity
from batch_ims.errors import AuthConfigError
from batch_ims.logsetup import redact_text

SK = "SECRET-SK-9f8e7d"
STS = "SECRET-STS-4c3b2a"
TOKEN = "SECRET-TOKEN-1a2b3c"
PASSWORD = "SECRET-PASSWORD-5d6e7f"
ISSUED = "SECRET-ISSUED-8a9b0c"
SECRETS = (SK, STS, TOKEN, PASSWORD, ISSUED)
URL = yarl.URL("https://ims.cn-north-4.myhuaweicloud.com/v2/cloudimages/x")


class Iam:
    refuse = False

    async def tokens(self, request: web.Request) -> web.Response:
        if self.refuse:
            return web.json_response({"error": {"code": 401, "message": "wrong"}}, status=401)
        body = {"token": {"expires_at": "2030-01-01T00:00:00Z", "project": {"id": "p-1"}}}
        return web.json_response(body, status=201, headers={"X-Subject-Token": ISSUED})

    async def projects(self, request: web.Request) -> web.Response:
        if self.refuse:
            body = {"error_code": "APIGW.0301", "error_msg": "verify aksk signature fail"}
            return web.json_response(body, status=401)
        return web.json_response({"projects": [{"id": "p-1"}]})


@pytest.fixture
async def iam() -> AsyncIterator[tuple[Iam, str]]:
    fake = Iam()
    app = web.Application()
    app.router.add_post("/v3/auth/tokens", fake.tokens)
    app.router.add_get("/v3/projects", fake.projects)
    server = TestServer(app)
    await server.start_server()
    yield fake, str(server.make_url(""))
    await server.close()


def modes(iam_url: str) -> dict[str, dict[str, str]]:
    keys = {"HUAWEICLOUD_SDK_AK": "AKLEAKTEST01", "HUAWEICLOUD_SDK_SK": SK}
    common = {"HUAWEICLOUD_SDK_IAM_ENDPOINT": iam_url}
    return {
        "aksk": {**common, **keys},
        "temporary-aksk": {**common, **keys, "HUAWEICLOUD_SDK_SECURITY_TOKEN": STS},
        "token": {**common, "BATCH_IMS_AUTH_TOKEN": TOKEN},
        "iam-password": {
            **common,
            "BATCH_IMS_IAM_USER": "ops",
            "BATCH_IMS_IAM_PASSWORD": PASSWORD,
            "BATCH_IMS_IAM_DOMAIN": "acme",
        },
    }


def assert_no_secret(texts: list[str]) -> None:
    leaked = [(s, t) for t in texts for s in SECRETS if s in t]
    assert leaked == []


async def exercise(env: dict[str, str], texts: list[str]) -> None:
    auth = resolve_authenticator(env=env, profile=None, region="cn-north-4")
    settings = load_auth_settings(env=env, profile=None, region="cn-north-4")
    async with aiohttp.ClientSession() as session:
        try:
            await auth.prepare(session)
        except AuthFailedError as error:
            texts += [str(error), repr(error)]
        else:
            await auth.headers("PATCH", URL, b"[]", {})
            await auth.on_unauthorized("APIG.0307", "The token must be updated.")
    texts += [auth.describe(), repr(auth), str(auth), repr(settings), str(settings)]
    texts.append(
        failure_hint(
            code="APIG.0301",
            message="x",
            server_date=None,
            now=datetime.now(UTC),
            mode=auth.mode,
            region=auth.region,
            project_id=auth.project_id,
        )
    )


@pytest.mark.parametrize("refuse", [False, True])
async def test_no_secret_in_repr_describe_errors_or_logs(
    iam: tuple[Iam, str], refuse: bool
) -> None:
    fake, url = iam
    fake.refuse = refuse
    texts: list[str] = []
    with capture_logs() as logs:
        for mode, env in modes(url).items():
            await exercise(env, texts)
            assert resolve_authenticator(env=env, profile=None, region="cn-north-4").mode == mode
    texts += [repr(event) for event in logs]
    assert any(e["event"] == "auth.mode_selected" for e in logs)
    assert_no_secret(texts)


@pytest.mark.parametrize(
    "env",
    [
        {"HUAWEICLOUD_SDK_SK": SK},
        {"HUAWEICLOUD_SDK_SECURITY_TOKEN": STS},
        {"HUAWEICLOUD_SDK_SK": SK, "HUAWEICLOUD_SDK_SECURITY_TOKEN": STS},
        {"BATCH_IMS_IAM_PASSWORD": PASSWORD},
        {
            "BATCH_IMS_IAM_USER": "u",
            "BATCH_IMS_IAM_PASSWORD": PASSWORD,
            "BATCH_IMS_IAM_DOMAIN": "d",
        },
        {
            "HUAWEICLOUD_SDK_AK": "AK1",
            "HUAWEICLOUD_SDK_SK": SK,
            "HUAWEICLOUD_SDK_IAM_ENDPOINT": "ftp:x",
        },
    ],
)
def test_no_secret_in_configuration_errors(env: dict[str, str]) -> None:
    with capture_logs() as logs, pytest.raises(AuthConfigError) as caught:
        resolve_authenticator(env=env, profile=None, region=None)
    assert_no_secret([str(caught.value), repr(caught.value), *map(repr, logs)])


def test_no_secret_from_the_credentials_file(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_text(f"[p]\nak = AK1\nsk = {SK}\nsecurity_token = {STS}\n", encoding="utf-8")
    good.chmod(0o644)
    bad = tmp_path / "bad"
    bad.write_text(f"[p]\nsk = {SK}\n  {STS}\n[p]\n", encoding="utf-8")
    texts: list[str] = []
    with capture_logs() as logs:
        profile = read_profile(good, "p")
        texts += [repr(profile), str(profile)]
        for path, name in ((bad, "p"), (good, "q")):
            try:
                read_profile(path, name)
            except AuthConfigError as error:
                texts.append(str(error))
    texts += [repr(event) for event in logs]
    assert len(texts) == 7  # 2 reprs, 2 errors, 3 permission warnings (checked before parsing)
    assert_no_secret(texts)


def test_password_identity_repr_hides_the_password() -> None:
    identity = PasswordIdentity(user="ops", domain="acme", password=PASSWORD)
    assert repr(identity) == "PasswordIdentity(user='ops', domain='acme')"


def test_resolution_registers_secrets_with_the_log_redactor() -> None:
    env = {
        "HUAWEICLOUD_SDK_AK": "AKLEAKTEST01",
        "HUAWEICLOUD_SDK_SK": SK,
        "HUAWEICLOUD_SDK_SECURITY_TOKEN": STS,
    }
    resolve_authenticator(env=env, profile=None, region=None)
    assert redact_text(f"sk={SK} sts={STS} ak=AKLEAKTEST01") == "sk=*** sts=*** ak=AKLEAKTEST01"
