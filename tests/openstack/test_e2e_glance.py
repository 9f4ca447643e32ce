"""End to end against a real Keystone and Glance: the real CLI with `--cloud`.

Images are created through Glance's API; results are checked by reading Glance back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.harness import read_report, write_csv
from tests.openstack.stack import ADMIN_PASSWORD, Stack, request

pytestmark = pytest.mark.openstack

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _env(tmp_path: Path, stack: Stack, *, password: str = ADMIN_PASSWORD) -> dict[str, str]:
    """No OS_* of the caller's; a clouds.yaml with one cloud, `lab`."""
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(yaml.safe_dump({"clouds": {"lab": stack.password_cloud(password=password)}}))
    (tmp_path / "secure.yaml").write_text("clouds: {}\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OS_", "HUAWEICLOUD_SDK_", "BATCH_IMS_"))
    }
    env.update(
        OS_CLIENT_CONFIG_FILE=str(clouds), OS_CLIENT_SECURE_FILE=str(tmp_path / "secure.yaml")
    )
    return env


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batch_ims", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _create(stack: Stack, name: str, **properties: str) -> str:
    body = {"name": name, "disk_format": "raw", "container_format": "bare", **properties}
    status, _, raw = request(
        "POST", stack.glance.url + "/v2/images", token=stack.admin_token, body=body
    )
    assert status == 201, raw[:300]
    image_id: str = json.loads(raw)["id"]
    return image_id


def _read(stack: Stack, image_id: str) -> dict[str, Any]:
    status, _, raw = request(
        "GET", f"{stack.glance.url}/v2/images/{image_id}", token=stack.admin_token
    )
    assert status == 200, raw[:300]
    image: dict[str, Any] = json.loads(raw)
    return image


def _summary(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_a_manifest_over_100_images_is_applied_exactly_and_undone(
    stack: Stack, tmp_path: Path
) -> None:
    env = _env(tmp_path, stack)
    ids = [_create(stack, f"img-{i:03d}", cost_center="cc-1", owner_team="t") for i in range(100)]
    lacking = _create(stack, "no-team", cost_center="cc-1")
    rows = [["image_id", "op", "path", "value"]]
    for i, image_id in enumerate(ids):
        rows += [
            [image_id, "replace", "name", f"renamed-{i:03d}"],
            [image_id, "add", "hw_firmware_type", "uefi"],
            [image_id, "remove", "owner_team", ""],
        ]
    rows += [[lacking, "remove", "owner_team", ""], [UNKNOWN, "replace", "name", "ghost"]]
    manifest = write_csv(tmp_path / "m.csv", rows)
    report, summary = tmp_path / "r.csv", tmp_path / "s.json"
    undo = tmp_path / "undo.csv"

    plan = _cli(["plan", str(manifest), "--cloud", "lab", "--diff"], env, tmp_path)
    # sqlite under the test Glance serialises writes: a few 500s "database is locked" are
    # retried like any 5xx; fewer in flight and more attempts keep the test deterministic
    common = ["--cloud", "lab", "--rate", "200", "--concurrency", "4", "--max-attempts", "8"]
    run_args = ["run", str(manifest), *common, "--report", str(report)]
    run_args += ["--summary-json", str(summary), "--undo-manifest", str(undo)]
    run = _cli(run_args, env, tmp_path)
    after = {image_id: _read(stack, image_id) for image_id in ids}
    again_args = ["run", str(manifest), *common, "--report", str(tmp_path / "again.csv")]
    again_args += ["--summary-json", str(tmp_path / "again.json"), "--skip-unchanged"]
    again = _cli(again_args, env, tmp_path)
    back = _cli(["run", str(undo), *common, "--report", str(tmp_path / "back.csv")], env, tmp_path)
    restored = {image_id: _read(stack, image_id) for image_id in ids}

    assert plan.returncode == 1, plan.stderr[-2000:]  # the unknown image: a run would get 404
    assert f"{UNKNOWN}: not found" in plan.stdout
    assert f"{ids[0]} (img-000):" in plan.stdout
    assert "name: 'img-000' -> 'renamed-000'" in plan.stdout
    assert "owner_team: 't' -> (absent)" in plan.stdout
    assert run.returncode == 1, run.stderr[-2000:]
    assert '"event": "service.rules_read"' in run.stderr  # the live schema was read
    for i, image_id in enumerate(ids):
        assert after[image_id]["name"] == f"renamed-{i:03d}"
        assert after[image_id]["hw_firmware_type"] == "uefi"
        assert "owner_team" not in after[image_id]
        assert after[image_id]["cost_center"] == "cc-1"
    by_id = {row["image_id"]: row for row in read_report(report)}
    assert {by_id[i]["status"] for i in ids} == {"succeeded"}
    missing_property = by_id[lacking]
    assert (missing_property["status"], missing_property["http_status"]) == ("failed", "409")
    assert missing_property["attempts"] == "1"
    assert "Property owner_team does not exist" in missing_property["error_message"]
    assert (by_id[UNKNOWN]["status"], by_id[UNKNOWN]["http_status"]) == ("failed", "404")
    # --undo-manifest reads first: Glance's 404 to the read ends it, and no PATCH is sent
    assert by_id[UNKNOWN]["attempts"] == "0"
    assert "no PATCH sent" in by_id[UNKNOWN]["note"]
    assert again.returncode == 1, again.stderr[-2000:]
    assert _summary(tmp_path / "again.json")["requests_by_method"]["PATCH"] <= 2  # the 2 failing
    assert back.returncode == 0, back.stderr[-2000:]
    for i, image_id in enumerate(ids):
        assert restored[image_id]["name"] == f"img-{i:03d}"
        assert restored[image_id]["owner_team"] == "t"
        assert "hw_firmware_type" not in restored[image_id]
    outputs = [run.stdout, run.stderr, plan.stdout, plan.stderr, back.stderr]
    outputs += [p.read_text(encoding="utf-8") for p in tmp_path.glob("*.csv")]
    outputs += [p.read_text(encoding="utf-8") for p in tmp_path.glob("*.json*")]
    assert not [text for text in outputs if ADMIN_PASSWORD in text]
    assert not [text for text in outputs if stack.admin_token in text]


def test_a_wrong_password_exits_3_after_one_token_request_and_sends_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    env = _env(tmp_path, stack, password="not-the-password-Q7")
    image_id = _create(stack, "untouched")
    manifest = write_csv(tmp_path / "m.csv", [["image_id", "name"], [image_id, "changed"]])
    before = stack.token_requests()

    result = _cli(
        ["run", str(manifest), "--cloud", "lab", "--report", str(tmp_path / "r.csv")], env, tmp_path
    )

    assert result.returncode == 3, result.stderr[-2000:]
    assert 1 <= stack.token_requests_since(before) <= 3
    assert _read(stack, image_id)["name"] == "untouched"
    assert [row["status"] for row in read_report(tmp_path / "r.csv")] == ["aborted"]
    assert "not-the-password-Q7" not in result.stderr + result.stdout


def test_cloud_envvars_takes_the_os_variables(stack: Stack, tmp_path: Path) -> None:
    env = _env(tmp_path, stack)
    auth = stack.password_cloud()["auth"]
    env.update(
        OS_AUTH_URL=auth["auth_url"],
        OS_USERNAME=auth["username"],
        OS_PASSWORD=auth["password"],
        OS_PROJECT_NAME=auth["project_name"],
        OS_USER_DOMAIN_NAME=auth["user_domain_name"],
        OS_PROJECT_DOMAIN_NAME=auth["project_domain_name"],
        OS_REGION_NAME=stack.password_cloud()["region_name"],
        OS_IDENTITY_API_VERSION="3",
    )
    image_id = _create(stack, "env-image")
    manifest = write_csv(tmp_path / "m.csv", [["image_id", "name"], [image_id, "env-renamed"]])

    result = _cli(
        ["run", str(manifest), "--cloud", "envvars", "--report", str(tmp_path / "r.csv")],
        env,
        tmp_path,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert _read(stack, image_id)["name"] == "env-renamed"


def _patch(stack: Stack, image_id: str, name: str) -> None:
    body = [{"op": "replace", "path": "/name", "value": name}]
    status, _, raw = request(
        "PATCH",
        f"{stack.glance.url}/v2/images/{image_id}",
        token=stack.admin_token,
        body=body,
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
    )
    assert status == 200, raw[:300]


def test_the_reviewed_plan_is_applied_exactly_and_drift_is_left_alone(
    stack: Stack, tmp_path: Path
) -> None:
    """plan --diff --out, someone renames one image, run --plan: the others are applied,
    the renamed one is `drifted` and keeps its new name."""
    env = _env(tmp_path, stack)
    ids = [_create(stack, f"plan-{i}", os_distro="centos") for i in range(4)]
    rows = [["image_id", "name", "os_distro"]]
    rows += [[image_id, f"迁移-{i}", "rocky"] for i, image_id in enumerate(ids)]
    manifest = write_csv(tmp_path / "m.csv", rows)
    plan_file = tmp_path / "plan.json"
    common = ["--cloud", "lab", "--rate", "200", "--concurrency", "2"]

    planned = _cli(
        ["plan", str(manifest), "--diff", "--out", str(plan_file), *common], env, tmp_path
    )
    _patch(stack, ids[1], "renamed by someone else")
    report = tmp_path / "r.csv"
    run = _cli(
        [
            "run",
            str(manifest),
            *common,
            "--max-attempts",
            "8",
            "--plan",
            str(plan_file),
            "--report",
            str(report),
        ],
        env,
        tmp_path,
    )
    after = {image_id: _read(stack, image_id) for image_id in ids}

    assert planned.returncode == 0, planned.stderr[-2000:]
    assert "name: 'plan-0' -> '迁移-0'" in planned.stdout
    assert run.returncode == 1, run.stderr[-2000:]
    statuses = {row["image_id"]: row["status"] for row in read_report(report)}
    assert statuses == {
        ids[0]: "succeeded",
        ids[1]: "drifted",
        ids[2]: "succeeded",
        ids[3]: "succeeded",
    }
    assert after[ids[1]]["name"] == "renamed by someone else"
    assert [after[i]["name"] for i in (ids[0], ids[2], ids[3])] == ["迁移-0", "迁移-2", "迁移-3"]
    assert {after[i]["os_distro"] for i in (ids[0], ids[2], ids[3])} == {"rocky"}


def test_an_export_round_trips_with_no_patch_and_an_edited_column_applies_exactly(
    stack: Stack, tmp_path: Path
) -> None:
    env = _env(tmp_path, stack)
    suite = f"export-{os.getpid()}"
    ids = [
        _create(stack, f"导出-{i:02d}", suite=suite, tier="金" if i % 2 else "银", serial="0007")
        for i in range(15)
    ]
    out = tmp_path / "export.csv"
    common = ["--cloud", "lab", "--rate", "200", "--max-attempts", "8"]
    export_args = ["export", *common, "--out", str(out), "--where", f"suite={suite}"]
    export_args += ["--filter", "status=queued", "--page-size", "4"]

    exported = _cli(export_args, env, tmp_path)
    rows = read_report(out)
    plan = _cli(["plan", str(out), "--diff", "--cloud", "lab", "--rate", "200"], env, tmp_path)
    same = _cli(
        ["run", str(out), *common, "--skip-unchanged", "--concurrency", "4",
         "--report", str(tmp_path / "same.csv"), "--summary-json", str(tmp_path / "same.json")],
        env, tmp_path,
    )  # fmt: skip
    for row in rows:
        if row["image_id"] in (ids[0], ids[3]):
            row["tier"] = "铂"
    edited = write_csv(tmp_path / "edited.csv", [list(rows[0]), *(list(r.values()) for r in rows)])
    run = _cli(
        ["run", str(edited), *common, "--skip-unchanged", "--concurrency", "4",
         "--report", str(tmp_path / "r.csv"), "--summary-json", str(tmp_path / "s.json")],
        env, tmp_path,
    )  # fmt: skip
    after = {image_id: _read(stack, image_id) for image_id in ids}

    assert exported.returncode == 0, exported.stderr[-2000:]
    assert sorted(row["image_id"] for row in rows) == sorted(ids)
    assert {row["serial"] for row in rows} == {"0007"}
    assert plan.returncode == 0, plan.stderr[-2000:]
    changes = [line for line in plan.stdout.splitlines() if "->" in line]
    assert changes
    assert all(line.endswith("(unchanged)") for line in changes)
    assert same.returncode == 0, same.stderr[-2000:]
    assert _summary(tmp_path / "same.json")["requests_by_method"].get("PATCH", 0) == 0
    assert run.returncode == 0, run.stderr[-2000:]
    # Glance's sqlite may answer a PATCH 500 "database is locked", which is retried: the
    # report, not the request count, says which images were patched
    statuses = {row["image_id"]: row["status"] for row in read_report(tmp_path / "r.csv")}
    assert sorted(i for i, status in statuses.items() if status == "succeeded") == sorted(
        [ids[0], ids[3]]
    )
    assert {statuses[i] for i in ids[4:]} == {"skipped"}
    assert [i for i in ids if after[i]["tier"] == "铂"] == [ids[0], ids[3]]
    assert after[ids[1]]["tier"] == "金"
