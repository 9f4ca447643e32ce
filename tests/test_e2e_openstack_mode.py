"""End to end, fast: the OpenStack mode (`--cloud`) against the emulator's Keystone-style
sign-in and its native Glance v2 image API, over loopback.

The real Keystone and Glance are in tests/openstack (make test-openstack); this checks the
mode's wiring on every `make test`.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import yaml

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import cli, emulator, json_lines, read_report, write_csv

USER = ("Default", "ops", "emu-pw-Kx81")


def _env(tmp_path: Path, url: str, *, password: str = USER[2]) -> dict[str, str]:
    cloud = {
        "auth_type": "password",
        "auth": {
            "auth_url": url + "/v3",
            "username": USER[1],
            "password": password,
            "project_name": "RegionOne",
            "user_domain_name": USER[0],
            "project_domain_name": USER[0],
        },
        "identity_api_version": 3,
    }
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(yaml.safe_dump({"clouds": {"emu": cloud}}), encoding="utf-8")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OS_", "HUAWEICLOUD_SDK_", "BATCH_IMS_"))
    }
    env["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    env["OS_CLIENT_SECURE_FILE"] = str(tmp_path / "absent-secure.yaml")
    return env


def _summary(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_cloud_mode_patches_through_glance_v2_with_a_keystone_token(tmp_path: Path) -> None:
    ids = [generated_image_id(i) for i in range(30)]
    manifest = write_csv(
        tmp_path / "m.csv",
        [["image_id", "name", "min_ram"], *([i, f"os-{i[:6]}", "2048"] for i in ids)],
    )
    with emulator(images=30, keys=(), iam_users=(USER,)) as running:
        env = _env(tmp_path, running.url)
        args = ["run", str(manifest), "--cloud", "emu", "--report", str(tmp_path / "r.csv")]
        args += ["--rate", "1000", "--summary-json", str(tmp_path / "s.json")]
        result = cli(args, env=env)
        served = dict(running.emulator.request_counts)
        images = {i: dict(running.emulator.images[i]) for i in ids}

    assert result.returncode == 0, result.stderr[-2000:]
    assert served["PATCH /v2/images/{image_id}"] == 30
    assert "PATCH /v2/cloudimages/{image_id}" not in served
    assert served["POST /v3/auth/tokens"] == 1
    assert {images[i]["name"] for i in ids} == {f"os-{i[:6]}" for i in ids}
    assert {images[i]["min_ram"] for i in ids} == {2048}  # sent as a JSON number
    assert {row["status"] for row in read_report(tmp_path / "r.csv")} == {"succeeded"}
    assert _summary(tmp_path / "s.json")["requests_by_method"]["PATCH"] == 30
    assert USER[2] not in result.stderr + result.stdout


def test_cloud_mode_with_a_wrong_password_exits_3_and_sends_no_patch(tmp_path: Path) -> None:
    image = generated_image_id(1)
    manifest = write_csv(tmp_path / "m.csv", [["image_id", "name"], [image, "x"]])
    with emulator(images=2, keys=(), iam_users=(USER,)) as running:
        env = _env(tmp_path, running.url, password="wrong-pw-Zq")
        result = cli(
            ["run", str(manifest), "--cloud", "emu", "--report", str(tmp_path / "r.csv")], env=env
        )
        served = dict(running.emulator.request_counts)

    assert result.returncode == 3, result.stderr[-2000:]
    assert served.get("POST /v3/auth/tokens", 0) <= 3
    assert "PATCH /v2/images/{image_id}" not in served
    assert [row["status"] for row in read_report(tmp_path / "r.csv")] == ["aborted"]
    assert "wrong-pw-Zq" not in result.stderr + result.stdout


def test_cloud_mode_with_keystone_unreachable_exits_4_naming_host_and_reason(
    tmp_path: Path,
) -> None:
    manifest = write_csv(tmp_path / "m.csv", [["image_id", "name"], [generated_image_id(1), "x"]])
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = _env(tmp_path, closed)
    result = cli(
        ["run", str(manifest), "--cloud", "emu", "--report", str(tmp_path / "r.csv")], env=env
    )

    assert result.returncode == 4, result.stderr[-2000:]
    logged = json_lines("\n".join(x for x in result.stderr.splitlines() if x.startswith("{")))
    events = [e for e in logged if e["event"] == "run.unreachable"]
    assert [(e["stage"], e["host"], e["reason"]) for e in events] == [
        ("sign_in", "127.0.0.1", "connection refused")
    ]
    rows = read_report(tmp_path / "r.csv")
    assert [(row["status"], row["error_code"]) for row in rows] == [
        ("aborted", "sign_in_unreachable")
    ]
    assert rows[0]["error_message"].startswith(f"could not reach Keystone at {closed}/v3 (")


def test_plan_with_cloud_validates_with_glances_rules_offline(tmp_path: Path) -> None:
    image = generated_image_id(1)
    manifest = write_csv(
        tmp_path / "m.csv",
        [["image_id", "op", "path", "value"], [image, "replace", "disk_format", "floppy"]],
    )
    env = _env(tmp_path, "http://127.0.0.1:9")

    result = cli(["plan", str(manifest), "--cloud", "emu"], env=env)

    assert result.returncode == 1, result.stderr[-2000:]
    assert "disk_format" in result.stdout
    assert "qcow2" in result.stdout


def test_refused_token_at_glance_hints_at_clouds_yaml_not_huawei_keys(tmp_path: Path) -> None:
    """Keystone signs in, but the image API (another emulator, which never issued the token)
    answers 401: the hint speaks of the cloud's clouds.yaml, not of Huawei's AK/SK."""
    images = [generated_image_id(i) for i in range(3)]
    manifest = write_csv(tmp_path / "m.csv", [["image_id", "name"], *([i, "镜像"] for i in images)])
    with (
        emulator(images=3, keys=(), iam_users=(USER,)) as keystone,
        emulator(images=3, keys=(), iam_users=(("Default", "other", "x-pw-1"),)) as glance,
    ):
        env = _env(tmp_path, keystone.url)
        args = ["run", str(manifest), "--cloud", "emu", "--endpoint", glance.url]
        args += ["--report", str(tmp_path / "r.csv"), "--auth-failure-limit", "2"]
        result = cli(args, env=env)

    assert result.returncode == 3, result.stderr[-2000:]
    hints = [
        json.loads(line)["hint"]
        for line in result.stderr.splitlines()
        if line.startswith("{") and json.loads(line).get("event") == "run.auth_failed"
    ]
    assert len(hints) == 1
    assert "clouds.yaml" in hints[0]
    assert "HUAWEICLOUD_SDK" not in result.stderr
