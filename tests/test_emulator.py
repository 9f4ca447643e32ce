"""The emulator's IMS behaviour over loopback: JSON Patch semantics, errors, state and stats."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from batch_ims.emulator import (
    EmulatorConfig,
    RunningEmulator,
    generated_image_id,
)
from tests.conftest import Serve

JSON = {"Content-Type": "application/json;charset=UTF-8"}
T0 = 1_750_000_000.0  # 2025-06-15T15:06:40Z


@pytest.fixture
def serve(serve: Serve) -> Serve:
    """The shared `serve`, with the wall clock fixed at T0 unless a test gives its own."""

    async def _serve(config: EmulatorConfig, **kwargs: Any) -> RunningEmulator:
        kwargs.setdefault("clock", lambda: T0)
        return await serve(config, **kwargs)

    return _serve


async def _patch(
    session: aiohttp.ClientSession, url: str, image_id: str, ops: Any, **kwargs: Any
) -> tuple[int, Any, aiohttp.ClientResponse]:
    kwargs.setdefault("headers", JSON)
    data = ops if isinstance(ops, bytes) else json.dumps(ops).encode()
    async with session.patch(f"{url}/v2/cloudimages/{image_id}", data=data, **kwargs) as resp:
        return resp.status, await resp.json(content_type=None), resp


def _seed(tmp_path: Path, images: list[dict[str, Any]]) -> Path:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(images), encoding="utf-8")
    return path


IMAGE = generated_image_id(0)


def test_generated_image_ids_are_stable_distinct_uuids() -> None:
    ids = [generated_image_id(i) for i in range(100)]
    assert len(set(ids)) == 100
    assert [str(uuid.UUID(i)) for i in ids] == ids
    assert generated_image_id(7) == generated_image_id(7)


async def test_patch_replace_returns_whole_image_with_headers(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=2))
    ops = [{"op": "replace", "path": "/name", "value": "nouveau-nom-é"}]
    status, body, resp = await _patch(session, running.url, IMAGE, ops)
    assert status == 200
    assert body["id"] == IMAGE
    assert body["name"] == "nouveau-nom-é"
    assert body["updated_at"] == "2025-06-15T15:06:40Z"
    assert body["__imagetype"] == "private"
    assert len(resp.headers["X-Request-Id"]) == 32
    assert resp.headers["Date"] == "Sun, 15 Jun 2025 15:06:40 GMT"
    assert running.emulator.images[IMAGE]["name"] == "nouveau-nom-é"
    assert running.emulator.apply_counts == {IMAGE: 1}


async def test_patch_add_creates_then_overwrites_and_remove_deletes(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=1))
    add = [{"op": "add", "path": "/owner_team", "value": "blue"}]
    assert (await _patch(session, running.url, IMAGE, add))[1]["owner_team"] == "blue"
    add[0]["value"] = "red"
    assert (await _patch(session, running.url, IMAGE, add))[1]["owner_team"] == "red"
    status, body, _ = await _patch(
        session, running.url, IMAGE, [{"op": "remove", "path": "/owner_team"}]
    )
    assert (status, "owner_team" in body) == (200, False)
    assert running.emulator.apply_counts[IMAGE] == 3


async def test_patch_is_atomic_when_a_later_op_fails_with_409(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=1))
    ops = [
        {"op": "replace", "path": "/name", "value": "changed"},
        {"op": "replace", "path": "/no_such_attr", "value": "x"},
    ]
    status, body, _ = await _patch(session, running.url, IMAGE, ops)
    assert status == 409
    assert body["error"]["code"] == "IMG.0001"
    assert "no_such_attr" in body["error"]["message"]
    assert "does not exist" in body["error"]["message"]
    assert running.emulator.images[IMAGE]["name"] == "image-00000"
    assert running.emulator.apply_counts[IMAGE] == 0


async def test_patch_remove_of_missing_attribute_is_409_does_not_exist(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=1))
    ops = [{"op": "remove", "path": "/never_set"}]
    status, body, _ = await _patch(session, running.url, IMAGE, ops)
    assert status == 409
    assert body["error"]["message"] == "Property 'never_set' does not exist."


@pytest.mark.parametrize("attribute", ["id", "status", "owner", "__imagetype", "disk_format"])
async def test_patch_of_read_only_attribute_is_403(
    serve: Serve, session: aiohttp.ClientSession, attribute: str
) -> None:
    running = await serve(EmulatorConfig(images=1))
    ops = [{"op": "replace", "path": f"/{attribute}", "value": "x"}]
    status, body, _ = await _patch(session, running.url, IMAGE, ops)
    assert status == 403
    assert body["error"]["message"] == f"Attribute '{attribute}' is read-only."


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "replace", "path": "/min_ram", "value": 1024}],
        [{"op": "add", "path": "/name"}],
        [{"op": "move", "path": "/name", "value": "x"}],
        [{"op": "add", "path": "name", "value": "x"}],
        [{"op": "add", "path": "/Upper", "value": "x"}],
        [{"op": "replace", "path": "/min_ram", "value": "lots"}],
        [{"op": "replace", "path": "/hw_firmware_type", "value": "coreboot"}],
        [{"op": "replace", "path": "/__support_kvm", "value": "yes"}],
        {"op": "add", "path": "/name", "value": "x"},
        [],
    ],
)
async def test_patch_with_invalid_op_or_value_is_400_and_applies_nothing(
    serve: Serve, session: aiohttp.ClientSession, ops: Any
) -> None:
    running = await serve(EmulatorConfig(images=1))
    before = dict(running.emulator.images[IMAGE])
    status, body, _ = await _patch(session, running.url, IMAGE, ops)
    assert (status, body["error"]["code"]) == (400, "IMG.0001")
    assert running.emulator.images[IMAGE] == before


async def test_patch_name_longer_than_128_is_400_img0002(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=1))
    ops = [{"op": "replace", "path": "/name", "value": "n" * 129}]
    status, body, _ = await _patch(session, running.url, IMAGE, ops)
    assert (status, body["error"]["code"]) == (400, "IMG.0002")


async def test_patch_min_ram_is_stored_as_an_integer_like_ims(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=1))
    ops = [{"op": "replace", "path": "/min_ram", "value": "2048"}]
    status, body, _ = await _patch(session, running.url, IMAGE, ops)
    assert (status, body["min_ram"]) == (200, 2048)


async def test_patch_without_json_content_type_is_400(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=1))
    ops = [{"op": "replace", "path": "/name", "value": "x"}]
    headers = {"Content-Type": "text/plain"}
    status, body, _ = await _patch(session, running.url, IMAGE, ops, headers=headers)
    assert (status, body["error"]["code"]) == (400, "IMG.0001")


async def test_patch_with_malformed_json_is_400(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=1))
    status, body, _ = await _patch(session, running.url, IMAGE, b"[{not json")
    assert (status, body["error"]["code"]) == (400, "IMG.0001")


async def test_patch_of_unknown_image_is_404_img0027(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=1))
    ops = [{"op": "replace", "path": "/name", "value": "x"}]
    status, body, _ = await _patch(session, running.url, str(uuid.uuid4()), ops)
    assert status == 404
    assert body == {
        "error": {"code": "IMG.0027", "message": "The image ID in the request does not exist."}
    }


async def test_patch_of_image_not_active_is_400_img0046(
    serve: Serve, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    queued = str(uuid.uuid4())
    seed = _seed(tmp_path, [{"id": queued, "name": "q", "status": "queued"}])
    running = await serve(EmulatorConfig(seed=seed))
    ops = [{"op": "replace", "path": "/name", "value": "x"}]
    status, body, _ = await _patch(session, running.url, queued, ops)
    assert (status, body["error"]["code"]) == (400, "IMG.0046")
    assert running.emulator.images[queued]["name"] == "q"


async def test_seed_file_images_keep_given_attributes_and_get_defaults(
    serve: Serve, tmp_path: Path
) -> None:
    image_id = str(uuid.uuid4())
    seed = _seed(tmp_path, [{"id": image_id, "name": "s", "status": "active", "team": "x"}])
    running = await serve(EmulatorConfig(images=2, seed=seed))
    image = running.emulator.images[image_id]
    assert (image["team"], image["visibility"], image["min_ram"]) == ("x", "private", 0)
    assert len(running.emulator.images) == 3


def test_seed_file_without_status_is_refused(tmp_path: Path) -> None:
    from batch_ims.emulator.images import load_seed

    with pytest.raises(ValueError, match="'status' must be a string"):
        load_seed(_seed(tmp_path, [{"id": "a", "name": "b"}]))


async def test_get_by_id_returns_the_current_image_or_an_empty_list(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=3))
    await _patch(session, running.url, IMAGE, [{"op": "add", "path": "/k", "value": "v"}])
    async with session.get(f"{running.url}/v2/cloudimages", params={"id": IMAGE}) as resp:
        assert resp.status == 200
        images = (await resp.json())["images"]
    assert [(i["id"], i["k"]) for i in images] == [(IMAGE, "v")]
    params = {"id": str(uuid.uuid4())}
    async with session.get(f"{running.url}/v2/cloudimages", params=params) as resp:
        assert (resp.status, await resp.json()) == (200, {"images": []})


async def test_get_without_id_pages_with_limit_and_marker(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=5))
    params = {"limit": "2", "marker": generated_image_id(1)}
    async with session.get(f"{running.url}/v2/cloudimages", params=params) as resp:
        ids = [image["id"] for image in (await resp.json())["images"]]
    assert ids == [generated_image_id(2), generated_image_id(3)]


async def test_unknown_path_is_404_with_apig_body_and_request_id(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig())
    async with session.get(f"{running.url}/v2/nothing") as resp:
        body = await resp.json()
        assert resp.status == 404
        assert body["error_code"] == "APIG.0101"
        assert body["request_id"] == resp.headers["X-Request-Id"]


async def test_state_and_stats_endpoints_report_images_and_counts(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    running = await serve(EmulatorConfig(images=2))
    ops = [{"op": "replace", "path": "/name", "value": "x"}]
    await _patch(session, running.url, IMAGE, ops)
    await _patch(session, running.url, str(uuid.uuid4()), ops)
    async with session.get(f"{running.url}/_emulator/state") as resp:
        state = await resp.json()
    async with session.get(f"{running.url}/_emulator/stats") as resp:
        stats = await resp.json()
    assert state["images"][IMAGE]["name"] == "x"
    assert len(state["images"]) == 2
    assert stats["status_counts"] == {"200": 1, "404": 1}
    assert stats["apply_counts"] == {IMAGE: 1}
    assert stats["request_counts"] == {"PATCH /v2/cloudimages/{image_id}": 2}
    assert stats["arrival_count"] == 2
    assert len(stats["arrivals"]) == 2
    assert stats["arrivals"] == sorted(stats["arrivals"])
    assert stats["token_issued"] == 0


@pytest.mark.parametrize(
    "knobs",
    [
        {"fail_rate": 1.5},
        {"reset_rate": 0.6, "fail_rate": 0.6},
        {"rate_limit": 0.0},
        {"rate_burst": 0.5},
        {"images": -1},
    ],
)
def test_config_rejects_impossible_values(knobs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        EmulatorConfig(**knobs)


def test_config_repr_hides_every_secret() -> None:
    config = EmulatorConfig(
        keys=(("AK", "SECRET-SK"),),
        security_tokens={"AK": "SECRET-ST"},
        tokens=("SECRET-TOKEN",),
        iam_users=(("dom", "user", "SECRET-PW"),),
    )
    assert "SECRET" not in repr(config)
