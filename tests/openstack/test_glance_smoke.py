"""Glance v2 through plain aiohttp with KeystoneAuthenticator: create, PATCH, read back; and the
exact error answers and image schema the Glance service module is built against.

The schema (batch_ims/clouds/openstack/glance_image_schema.json) and the error answers
(glance_error_bodies.json beside this file) are recorded from this Glance; a test fails when
the live server disagrees. To record them again after a Glance upgrade:

    BATCH_IMS_REFRESH_GLANCE_FIXTURES=1 make test-openstack
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl

from batch_ims.clouds.openstack.keystone import KeystoneAuthenticator, keystone_authenticator
from tests.openstack.clouds import WriteClouds
from tests.openstack.stack import Stack

pytestmark = pytest.mark.openstack

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
ERROR_BODIES = Path(__file__).with_name("glance_error_bodies.json")
SCHEMA_RESOURCE = ("batch_ims.clouds.openstack", "glance_image_schema.json")
REFRESH = os.environ.get("BATCH_IMS_REFRESH_GLANCE_FIXTURES") == "1"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: str


@dataclass
class Glance:
    session: aiohttp.ClientSession
    auth: KeystoneAuthenticator
    base: yarl.URL

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str | None = None,
    ) -> Answer:
        url = self.base / path.lstrip("/")
        data = b"" if body is None else json.dumps(body).encode()
        base = {"Content-Type": content_type} if body is not None else {}
        if accept:
            base["Accept"] = accept
        headers = await self.auth.headers(method, url, data, base)
        async with self.session.request(method, url, data=data or None, headers=headers) as r:
            return Answer(r.status, r.headers.get("Content-Type", ""), await r.text())

    async def create(self, **fields: Any) -> dict[str, Any]:
        body = {"disk_format": "qcow2", "container_format": "bare", **fields}
        answer = await self.call("POST", "/v2/images", body)
        assert answer.status == 201, answer
        created: dict[str, Any] = json.loads(answer.body)
        return created

    async def patch(self, image_id: str, ops: list[dict[str, Any]], **kw: Any) -> Answer:
        return await self.call(
            "PATCH", f"/v2/images/{image_id}", ops, content_type=PATCH_TYPE, **kw
        )


@pytest.fixture
async def glance(stack: Stack, write_clouds: WriteClouds, session: aiohttp.ClientSession) -> Glance:
    write_clouds({"test": stack.password_cloud()})
    auth = keystone_authenticator("test")
    await auth.prepare(session)
    return Glance(session, auth, auth.image_endpoint())


async def test_patch_replaces_adds_and_removes_then_glance_reads_back_the_result(
    glance: Glance,
) -> None:
    image = await glance.create(name="before", os_distro="ubuntu", cost_centre="cc-1")
    other = await glance.create(name="untouched", os_distro="debian")
    ops = [
        {"op": "replace", "path": "/name", "value": "after"},
        {"op": "add", "path": "/hw_qemu_guest_agent", "value": "yes"},
        {"op": "remove", "path": "/cost_centre"},
        {"op": "replace", "path": "/min_ram", "value": 512},
        {"op": "replace", "path": "/protected", "value": False},
    ]
    answer = await glance.patch(image["id"], ops)
    assert (answer.status, answer.content_type) == (200, "application/json")
    read = json.loads((await glance.call("GET", f"/v2/images/{image['id']}")).body)
    picked = {key: read.get(key) for key in ("name", "hw_qemu_guest_agent", "min_ram", "os_distro")}
    assert picked == {
        "name": "after",
        "hw_qemu_guest_agent": "yes",
        "min_ram": 512,
        "os_distro": "ubuntu",
    }
    assert "cost_centre" not in read
    assert json.loads(answer.body) == read
    untouched = json.loads((await glance.call("GET", f"/v2/images/{other['id']}")).body)
    assert (untouched["name"], untouched["os_distro"]) == ("untouched", "debian")


def _error_cases(image_id: str) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    def one(op: str, path: str, value: Any = None) -> list[dict[str, Any]]:
        return [{"op": op, "path": path} | ({} if op == "remove" else {"value": value})]

    return {
        "remove_missing_property": (image_id, one("remove", "/no_such_property")),
        "unknown_id": (UNKNOWN_ID, one("replace", "/name", "x")),
        "read_only_status": (image_id, one("replace", "/status", "active")),
        "read_only_id": (image_id, one("replace", "/id", str(uuid.uuid4()))),
        "read_only_checksum": (image_id, one("add", "/checksum", "abc")),
        "reserved_deleted": (image_id, one("add", "/deleted", "true")),
        "reserved_os_glance_prefix": (image_id, one("add", "/os_glance_x", "1")),
        "bad_enum_visibility": (image_id, one("replace", "/visibility", "bogus")),
        "bad_enum_disk_format": (image_id, one("replace", "/disk_format", "bogus")),
        "min_ram_not_integer": (image_id, one("replace", "/min_ram", "12")),
        "protected_not_boolean": (image_id, one("replace", "/protected", "yes")),
        "name_too_long": (image_id, one("replace", "/name", "n" * 256)),
        "extra_property_not_string": (image_id, one("add", "/hw_x", 5)),
        "add_existing_property": (image_id, one("add", "/os_distro", "again")),
        "replace_missing_property": (image_id, one("replace", "/no_such_property", "x")),
    }


def _record(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _normalised(answer: Answer, image_id: str) -> dict[str, Any]:
    """Status, content type and (for errors: a success's body holds timestamps) the body."""
    if answer.status < 300:
        return {"status": answer.status, "content_type": answer.content_type}
    return {
        "status": answer.status,
        "content_type": answer.content_type,
        "body": answer.body.replace(image_id, "{image_id}"),
    }


async def _observed(glance: Glance) -> dict[str, Any]:
    image = await glance.create(name="errors", os_distro="ubuntu")
    observed: dict[str, Any] = {}
    for name, (target, ops) in _error_cases(image["id"]).items():
        for accept in ("*/*", "application/json"):
            answer = await glance.patch(target, ops, accept=accept)
            observed[f"{name} (Accept: {accept})"] = _normalised(answer, image["id"])
    wrong_type = await glance.call("PATCH", f"/v2/images/{image['id']}", [], accept="*/*")
    observed["json_content_type (Accept: */*)"] = _normalised(wrong_type, image["id"])
    for accept in ("*/*", "application/json"):
        headers = {"X-Auth-Token": "not-a-token", "Accept": accept}
        async with glance.session.get(glance.base / "v2/images", headers=headers) as response:
            answer = Answer(response.status, response.content_type, await response.text())
        observed[f"bad_token (Accept: {accept})"] = _normalised(answer, image["id"])
    return observed


async def test_glance_error_answers_are_the_recorded_ones(glance: Glance) -> None:
    observed = await _observed(glance)
    if REFRESH:
        _record(ERROR_BODIES, observed)
    recorded = json.loads(ERROR_BODIES.read_text())
    assert observed == recorded


async def test_bundled_image_schema_is_glances_own(glance: Glance) -> None:
    answer = await glance.call("GET", "/v2/schemas/image")
    live = json.loads(answer.body)
    bundled = resources.files(SCHEMA_RESOURCE[0]).joinpath(SCHEMA_RESOURCE[1])
    if REFRESH:
        _record(Path(str(bundled)), live)
    assert json.loads(bundled.read_text()) == live
