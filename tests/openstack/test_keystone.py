"""KeystoneAuthenticator against a real Keystone (and its catalog pointing at the real Glance)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from batch_ims.clouds.auth import AuthFailedError
from batch_ims.clouds.openstack.keystone import ImageEndpointNotFoundError, keystone_authenticator
from batch_ims.errors import AuthConfigError
from tests.openstack.clouds import WriteClouds
from tests.openstack.stack import (
    ADMIN_PASSWORD,
    ADMIN_PROJECT,
    ADMIN_USER,
    DOMAIN,
    REGION,
    Stack,
    request,
)

pytestmark = pytest.mark.openstack

WRONG_PASSWORD = "WRONG-PASSWORD-7c1d"


def _application_credential(stack: Stack) -> dict[str, Any]:
    url = f"{stack.auth_url}/users/{stack.ids['admin_user']}/application_credentials"
    body = {"application_credential": {"name": f"batch-ims-{uuid.uuid4().hex[:8]}"}}
    status, _, raw = request("POST", url, token=stack.admin_token, body=body)
    assert status == 201, raw
    credential: dict[str, Any] = json.loads(raw)["application_credential"]
    return credential


async def test_password_cloud_gets_a_scoped_token_and_the_catalogs_image_endpoint(
    stack: Stack, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    write_clouds({"test": stack.password_cloud()})
    auth = keystone_authenticator("test")
    await auth.prepare(session)
    headers = await auth.headers("GET", auth.image_endpoint(), b"", {"Accept": "x"})
    assert set(headers) == {"Accept", "X-Auth-Token"}
    assert str(auth.image_endpoint()) == stack.glance.url
    assert auth.project_id == stack.ids["admin_project"]
    assert auth.region == REGION
    assert auth.token_requests == 1
    status, _, _ = request("GET", stack.glance.url + "/v2/images", token=headers["X-Auth-Token"])
    assert status == 200


async def test_secure_yaml_supplies_the_password(
    stack: Stack, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    cloud = stack.password_cloud()
    del cloud["auth"]["password"]
    write_clouds({"test": cloud}, secure={"test": {"auth": {"password": ADMIN_PASSWORD}}})
    auth = keystone_authenticator("test")
    await auth.prepare(session)
    assert auth.project_id == stack.ids["admin_project"]


async def test_os_cloud_chooses_the_cloud_when_no_name_is_given(
    stack: Stack,
    write_clouds: WriteClouds,
    session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_clouds({"other": stack.password_cloud(password="nope"), "mine": stack.password_cloud()})
    monkeypatch.setenv("OS_CLOUD", "mine")
    auth = keystone_authenticator(None)
    await auth.prepare(session)
    assert "'mine'" in auth.describe()


async def test_application_credential_cloud_authenticates(
    stack: Stack, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    credential = _application_credential(stack)
    cloud = {
        "auth_type": "v3applicationcredential",
        "auth": {
            "auth_url": stack.auth_url,
            "application_credential_id": credential["id"],
            "application_credential_secret": credential["secret"],
        },
        "region_name": REGION,
    }
    write_clouds({"appcred": cloud})
    auth = keystone_authenticator("appcred")
    with capture_logs() as logs:
        await auth.prepare(session)
    assert auth.project_id == stack.ids["admin_project"]
    assert str(auth.image_endpoint()) == stack.glance.url
    everything = repr(auth) + auth.describe() + repr(logs)
    assert credential["secret"] not in everything


async def test_pre_issued_token_cloud_authenticates(
    stack: Stack, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    cloud = {
        "auth_type": "token",
        "auth": {
            "auth_url": stack.auth_url,
            "token": stack.admin_token,
            "project_name": ADMIN_PROJECT,
            "project_domain_name": DOMAIN,
        },
        "region_name": REGION,
    }
    write_clouds({"tok": cloud})
    auth = keystone_authenticator("tok")
    await auth.prepare(session)
    assert auth.project_id == stack.ids["admin_project"]
    assert stack.admin_token not in repr(auth) + auth.describe()


async def test_envvars_cloud_takes_the_os_variables(
    stack: Stack,
    clean_os_env: None,
    session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "OS_AUTH_URL": stack.auth_url,
        "OS_USERNAME": ADMIN_USER,
        "OS_PASSWORD": ADMIN_PASSWORD,
        "OS_PROJECT_NAME": ADMIN_PROJECT,
        "OS_USER_DOMAIN_NAME": DOMAIN,
        "OS_PROJECT_DOMAIN_NAME": DOMAIN,
        "OS_REGION_NAME": REGION,
        "OS_IDENTITY_API_VERSION": "3",
    }.items():
        monkeypatch.setenv(name, value)
    auth = keystone_authenticator("envvars")
    await auth.prepare(session)
    assert auth.project_id == stack.ids["admin_project"]
    assert str(auth.image_endpoint()) == stack.glance.url


async def test_wrong_password_fails_after_at_most_three_token_requests_without_leaking(
    stack: Stack, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    write_clouds({"bad": stack.password_cloud(password=WRONG_PASSWORD)})
    auth = keystone_authenticator("bad")
    before = stack.token_requests()
    with capture_logs() as logs, pytest.raises(AuthFailedError) as failure:
        await auth.prepare(session)
    posted = stack.token_requests_since(before)
    assert 1 <= posted <= 3
    message = str(failure.value)
    assert "\n" not in message
    assert "HTTP 401" in message
    assert "password" in message  # the hint names what to check
    everything = message + repr(failure.value) + repr(auth) + auth.describe() + repr(logs)
    assert WRONG_PASSWORD not in everything


async def test_unknown_region_has_no_image_endpoint(
    stack: Stack, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    cloud = stack.password_cloud()
    del cloud["region_name"]  # with one, openstacksdk itself refuses other region names
    write_clouds({"test": cloud})
    auth = keystone_authenticator("test", region="NoSuchRegion")
    await auth.prepare(session)
    with pytest.raises(ImageEndpointNotFoundError, match="NoSuchRegion"):
        auth.image_endpoint()


def test_a_region_the_cloud_does_not_list_is_refused_before_anything_is_sent(
    stack: Stack, write_clouds: WriteClouds
) -> None:
    write_clouds({"test": stack.password_cloud()})
    before = stack.token_requests()
    with pytest.raises(AuthConfigError, match="NoSuchRegion"):
        keystone_authenticator("test", region="NoSuchRegion")
    assert stack.token_requests_since(before, settle_s=0.2) == 0


async def test_internal_interface_is_looked_up_in_the_catalog(
    stack: Stack, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    write_clouds({"test": {**stack.password_cloud(), "interface": "internal"}})
    auth = keystone_authenticator("test")
    await auth.prepare(session)
    assert str(auth.image_endpoint()) == stack.glance.url


async def test_token_is_renewed_before_it_expires(
    stack: Stack, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    write_clouds({"test": stack.password_cloud()})
    now = [1000.0]
    auth = keystone_authenticator("test", clock=lambda: now[0])
    await auth.prepare(session)
    first = (await auth.headers("GET", auth.image_endpoint(), b"", {}))["X-Auth-Token"]
    now[0] += 3600 - 599  # Keystone tokens here live an hour; renewal is 10 minutes ahead
    second = (await auth.headers("GET", auth.image_endpoint(), b"", {}))["X-Auth-Token"]
    assert (first != second, auth.token_requests) == (True, 2)


async def test_a_401_fetches_a_new_token_once(
    stack: Stack, write_clouds: WriteClouds, session: aiohttp.ClientSession
) -> None:
    write_clouds({"test": stack.password_cloud()})
    now = [1000.0]
    auth = keystone_authenticator("test", clock=lambda: now[0])
    await auth.prepare(session)
    now[0] += 120
    assert await auth.on_unauthorized("401", "The request you have made requires authentication.")
    assert await auth.on_unauthorized("401", "again, moments later")
    assert auth.token_requests == 2
