"""clouds.openstack.keystone without a real Keystone: clouds.yaml in tmp_path, a small fake
Keystone on loopback for keystoneauth1 to talk to, and a stand-in token source for the renewal
rules."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import yarl
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from batch_ims.clouds.auth import AuthFailedError, SignInUnreachableError
from batch_ims.clouds.openstack.keystone import (
    INSTALL_HINT,
    ImageEndpointNotFoundError,
    KeystoneAuthenticator,
    KeystoneGrant,
    OpenStackNotInstalledError,
    keystone_authenticator,
    load_cloud,
)
from batch_ims.errors import AuthConfigError
from tests.openstack.clouds import WriteClouds, clean_os_env, write_clouds

__all__ = ["clean_os_env", "write_clouds"]

PASSWORD = "SECRET-PASSWORD-31f4"
TOKEN = "SECRET-TOKEN-9e2a"
APP_SECRET = "SECRET-APPCRED-77b0"
GLANCE_PUBLIC = "http://glance.example:9292"
GLANCE_INTERNAL = "http://glance.internal:9292"


@dataclass
class FakeKeystone:
    """Version discovery and POST /v3/auth/tokens; refuses when `refuse` is set."""

    url: str = ""
    refuse: bool = False
    lifetime: timedelta = timedelta(hours=1)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    issued: int = 0

    async def version(self, request: web.Request) -> web.Response:
        link = {"rel": "self", "href": self.url + "/v3/"}
        doc = {"version": {"id": "v3.14", "status": "stable", "links": [link]}}
        return web.json_response(doc)

    async def tokens(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        if self.refuse:
            error = {"code": 401, "title": "Unauthorized", "message": "requires authentication."}
            return web.json_response({"error": error}, status=401)
        self.issued += 1
        now = datetime.now(UTC)
        catalog = [
            {
                "type": "image",
                "name": "glance",
                "id": "svc-image",
                "endpoints": [
                    _endpoint("public", "RegionOne", GLANCE_PUBLIC),
                    _endpoint("internal", "RegionOne", GLANCE_INTERNAL),
                    _endpoint("public", "RegionTwo", "http://glance.two:9292"),
                ],
            }
        ]
        token = {
            "methods": ["password"],
            "issued_at": now.isoformat(),
            "expires_at": (now + self.lifetime).isoformat(),
            "project": {
                "id": "p-1",
                "name": "demo",
                "domain": {"id": "default", "name": "Default"},
            },
            "user": {"id": "u-1", "name": "alice", "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": "r-1", "name": "member"}],
            "catalog": catalog,
        }
        headers = {"X-Subject-Token": f"{TOKEN}-{self.issued}"}
        return web.json_response({"token": token}, status=201, headers=headers)


def _endpoint(interface: str, region: str, url: str) -> dict[str, str]:
    return {"interface": interface, "region": region, "region_id": region, "url": url, "id": url}


@pytest.fixture
async def keystone() -> AsyncIterator[FakeKeystone]:
    fake = FakeKeystone()
    app = web.Application()
    app.router.add_get("/v3", fake.version)
    app.router.add_get("/v3/", fake.version)
    app.router.add_post("/v3/auth/tokens", fake.tokens)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


def _password_cloud(keystone: FakeKeystone, **extra: Any) -> dict[str, Any]:
    return {
        "auth_type": "password",
        "auth": {
            "auth_url": keystone.url + "/v3",
            "username": "alice",
            "password": PASSWORD,
            "project_name": "demo",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": "RegionOne",
        **extra,
    }


def _regionless_cloud(keystone: FakeKeystone) -> dict[str, Any]:
    cloud = _password_cloud(keystone)
    del cloud["region_name"]  # with one, openstacksdk itself refuses other region names
    return cloud


def test_cloud_from_clouds_yaml_is_described_without_its_password(
    keystone: FakeKeystone, write_clouds: WriteClouds
) -> None:
    write_clouds({"mine": _password_cloud(keystone)})
    cloud = load_cloud("mine")
    expected = "Keystone password as 'alice' for cloud 'mine', project 'demo', region RegionOne"
    assert (cloud.describe(), cloud.interface, cloud.region) == (expected, "public", "RegionOne")
    assert PASSWORD not in repr(cloud) + repr(keystone_authenticator("mine"))


async def test_prepare_fetches_one_token_and_the_public_image_endpoint(
    keystone: FakeKeystone, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    write_clouds({"mine": _password_cloud(keystone)})
    auth = keystone_authenticator("mine")
    with capture_logs() as logs:
        await auth.prepare(session)
        headers = await auth.headers("PATCH", auth.image_endpoint(), b"{}", {"A": "b"})
    assert headers == {"A": "b", "X-Auth-Token": f"{TOKEN}-1"}
    assert (str(auth.image_endpoint()), auth.project_id, auth.token_requests) == (
        GLANCE_PUBLIC,
        "p-1",
        1,
    )
    assert [entry["event"] for entry in logs] == ["auth.token_obtained"]
    assert TOKEN not in repr(logs) + repr(auth)
    assert PASSWORD not in repr(logs)


async def test_secure_yaml_is_merged_into_the_cloud(
    keystone: FakeKeystone, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    cloud = _password_cloud(keystone)
    del cloud["auth"]["password"]
    write_clouds({"mine": cloud}, secure={"mine": {"auth": {"password": PASSWORD}}})
    await keystone_authenticator("mine").prepare(session)
    sent = keystone.bodies[0]["auth"]["identity"]["password"]["user"]["password"]
    assert sent == PASSWORD


async def test_interface_and_region_choose_the_catalog_entry(
    keystone: FakeKeystone, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    write_clouds({"mine": _password_cloud(keystone, interface="internal")})
    internal = keystone_authenticator("mine")
    await internal.prepare(session)
    write_clouds({"mine": _regionless_cloud(keystone)})
    two = keystone_authenticator("mine", region="RegionTwo")
    await two.prepare(session)
    assert (str(internal.image_endpoint()), str(two.image_endpoint()), two.region) == (
        GLANCE_INTERNAL,
        "http://glance.two:9292",
        "RegionTwo",
    )


async def test_a_region_without_an_image_endpoint_says_so(
    keystone: FakeKeystone, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    write_clouds({"mine": _regionless_cloud(keystone)})
    auth = keystone_authenticator("mine", region="Elsewhere")
    await auth.prepare(session)
    with pytest.raises(ImageEndpointNotFoundError, match="interface public, region Elsewhere"):
        auth.image_endpoint()


async def test_image_endpoint_override_wins_over_the_catalog(
    keystone: FakeKeystone, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    cloud = _password_cloud(keystone, image_endpoint_override="https://images.example/")
    write_clouds({"mine": cloud})
    auth = keystone_authenticator("mine")
    await auth.prepare(session)
    assert str(auth.image_endpoint()) == "https://images.example/"


async def test_application_credential_is_sent_as_such(
    keystone: FakeKeystone, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    cloud = {
        "auth_type": "v3applicationcredential",
        "auth": {
            "auth_url": keystone.url + "/v3",
            "application_credential_id": "ac-1",
            "application_credential_secret": APP_SECRET,
        },
    }
    write_clouds({"ac": cloud})
    auth = keystone_authenticator("ac")
    await auth.prepare(session)
    identity = keystone.bodies[0]["auth"]["identity"]
    assert (identity["methods"], identity["application_credential"]) == (
        ["application_credential"],
        {"id": "ac-1", "secret": APP_SECRET},
    )
    assert APP_SECRET not in repr(auth) + auth.describe()


async def test_envvars_cloud_reads_the_os_variables(
    keystone: FakeKeystone,
    clean_os_env: None,
    monkeypatch: pytest.MonkeyPatch,
    session: aiohttp.ClientSession,
) -> None:
    for name, value in {
        "OS_AUTH_URL": keystone.url + "/v3",
        "OS_USERNAME": "alice",
        "OS_PASSWORD": PASSWORD,
        "OS_PROJECT_NAME": "demo",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": "RegionOne",
        "OS_INTERFACE": "internal",
    }.items():
        monkeypatch.setenv(name, value)
    auth = keystone_authenticator("envvars")
    await auth.prepare(session)
    assert (str(auth.image_endpoint()), auth.region) == (GLANCE_INTERNAL, "RegionOne")


async def test_wrong_password_is_one_token_request_and_a_one_line_hint(
    keystone: FakeKeystone, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    keystone.refuse = True
    write_clouds({"mine": _password_cloud(keystone)})
    auth = keystone_authenticator("mine")
    with pytest.raises(AuthFailedError) as failure:
        await auth.prepare(session)
    message = str(failure.value)
    assert (len(keystone.bodies), "\n" in message, PASSWORD in message) == (1, False, False)
    assert message.startswith(f"Keystone at {keystone.url}/v3 refused cloud 'mine' (password)")
    assert "HTTP 401" in message
    assert "check username, password" in message


async def test_unreachable_keystone_is_its_own_error_naming_the_host_and_the_refusal(
    write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    from tests.openstack.stack import free_port

    cloud = _password_cloud(FakeKeystone(url=f"http://127.0.0.1:{free_port()}"))
    write_clouds({"mine": cloud})
    with pytest.raises(SignInUnreachableError) as failure:
        await keystone_authenticator("mine").prepare(session)
    assert (failure.value.host, failure.value.reason) == ("127.0.0.1", "connection refused")
    assert str(failure.value).startswith("could not reach Keystone at http://127.0.0.1:")


def test_unknown_cloud_is_a_config_error(write_clouds: WriteClouds) -> None:
    write_clouds({"mine": {"auth": {"auth_url": "http://127.0.0.1:1/v3"}}})
    with pytest.raises(AuthConfigError, match=r"cloud nope: .*nope"):
        load_cloud("nope")


def test_incomplete_auth_is_a_config_error(write_clouds: WriteClouds) -> None:
    write_clouds({"mine": {"auth_type": "password", "auth": {"username": "alice"}}})
    with pytest.raises(AuthConfigError, match=r"cloud mine: .*auth_url"):
        load_cloud("mine")


def test_auth_type_none_is_refused(write_clouds: WriteClouds) -> None:
    write_clouds({"mine": {"auth_type": "none", "auth": {"endpoint": "http://127.0.0.1:1"}}})
    with pytest.raises(AuthConfigError, match="does not sign in to Keystone"):
        load_cloud("mine")


def test_missing_openstacksdk_tells_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openstack", None)
    with pytest.raises(OpenStackNotInstalledError) as failure:
        load_cloud("mine")
    assert INSTALL_HINT in str(failure.value)
    assert INSTALL_HINT == "pip install 'batch-ims[openstack]'"


@dataclass
class StandIn:
    """A token source with scripted answers and a count of fetches."""

    lifetime_s: float = 3600.0
    fail: bool = False
    fetches: int = 0
    image_url: str | None = GLANCE_PUBLIC
    region: str | None = "RegionOne"
    interface: str = "public"
    endpoint_override: str | None = None

    def fetch(self) -> KeystoneGrant:
        self.fetches += 1
        if self.fail:
            raise AuthFailedError("Keystone refused")
        return KeystoneGrant(
            value=f"tok-{self.fetches}",
            lifetime_s=self.lifetime_s,
            project_id="p-1",
            image_url=self.image_url,
        )

    def describe(self) -> str:
        return "stand-in"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _token(auth: KeystoneAuthenticator) -> str:
    headers = await auth.headers("GET", yarl.URL("http://x/"), b"", {})
    return headers["X-Auth-Token"]


async def test_token_is_renewed_ten_minutes_before_expiry(
    session: aiohttp.ClientSession,
) -> None:
    source, clock = StandIn(), Clock()
    auth = KeystoneAuthenticator(source, clock=clock)
    await auth.prepare(session)
    clock.now += 3600 - 601
    early = await _token(auth)
    clock.now += 2
    late = await _token(auth)
    assert (early, late, auth.token_requests) == ("tok-1", "tok-2", 2)


async def test_short_lived_token_is_renewed_half_way(session: aiohttp.ClientSession) -> None:
    source, clock = StandIn(lifetime_s=300), Clock()
    auth = KeystoneAuthenticator(source, clock=clock)
    await auth.prepare(session)
    clock.now += 149
    assert await _token(auth) == "tok-1"
    clock.now += 2
    assert await _token(auth) == "tok-2"


async def test_concurrent_callers_share_one_renewal(session: aiohttp.ClientSession) -> None:
    source, clock = StandIn(), Clock()
    auth = KeystoneAuthenticator(source, clock=clock)
    await auth.prepare(session)
    clock.now += 3500
    tokens = await asyncio.gather(*(_token(auth) for _ in range(20)))
    assert (set(tokens), source.fetches) == ({"tok-2"}, 2)


async def test_failed_renewal_keeps_the_old_token_and_backs_off(
    session: aiohttp.ClientSession,
) -> None:
    source, clock = StandIn(), Clock()
    auth = KeystoneAuthenticator(source, clock=clock)
    await auth.prepare(session)
    source.fail = True
    clock.now += 3500
    with capture_logs() as logs:
        first = await _token(auth)
        second = await _token(auth)
    assert (first, second, source.fetches) == ("tok-1", "tok-1", 2)
    assert [entry["event"] for entry in logs] == ["auth.token_renewal_failed"]


async def test_a_401_renews_unless_the_token_is_fresh(session: aiohttp.ClientSession) -> None:
    source, clock = StandIn(), Clock()
    auth = KeystoneAuthenticator(source, clock=clock)
    await auth.prepare(session)
    fresh = await auth.on_unauthorized("401", "")
    clock.now += 120
    renewed = await auth.on_unauthorized("401", "")
    source.fail = True
    clock.now += 120
    refused = await auth.on_unauthorized("401", "")
    assert (fresh, renewed, refused, source.fetches) == (True, True, False, 3)
    assert await _token(auth) == "tok-2"


async def test_prepare_failure_is_raised_and_nothing_is_held(
    session: aiohttp.ClientSession,
) -> None:
    auth = KeystoneAuthenticator(StandIn(fail=True), clock=Clock())
    with pytest.raises(AuthFailedError):
        await auth.prepare(session)
    with pytest.raises(RuntimeError, match="prepare"):
        auth.image_endpoint()
    assert auth.project_id is None


def test_token_value_is_kept_out_of_the_grants_repr() -> None:
    grant = KeystoneGrant(value=TOKEN, lifetime_s=1.0, project_id=None, image_url=None)
    assert TOKEN not in repr(grant)
