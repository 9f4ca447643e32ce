"""End to end: `export` against the emulator over loopback, and its round trip through `run`
and `plan --diff`: an unedited export changes nothing, an edited one exactly what was edited.
"""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.e2e.harness import clean_env, cli, emulator, read_report
from tests.test_e2e_openstack_mode import USER
from tests.test_e2e_openstack_mode import _env as openstack_env

PATCH = "PATCH /v2/cloudimages/{image_id}"
LIST = "GET /v2/cloudimages"
FAST = ["--rate", "100000"]


def _uuid(n: int) -> str:
    return f"{n:08x}-1111-4222-8333-444455556666"


def _seed(tmp_path: Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Linux web images (some with Chinese text, typed values, extension attributes),
    Windows web images, Linux db images, and a shared image."""
    images: list[dict[str, Any]] = []
    for n in range(8):
        images.append(
            {
                "id": _uuid(n),
                "name": f"web-{n:02d}",
                "status": "active",
                "__os_type": "Linux",
                "__description": "生产环境 Web 镜像" if n % 2 else "",
                "min_ram": 2048 * n,
                "__support_kvm": "true" if n % 3 else "false",
                # `region` is also a target column of a manifest: never an attribute column
                **({"owner_team": "平台组", "serial": "0001", "region": "cn-x"} if n < 3 else {}),
            }
        )
    for n in range(8, 10):
        images.append({"id": _uuid(n), "name": f"web-{n:02d}", "status": "active",
                       "__os_type": "Windows"})  # fmt: skip
    for n in range(10, 12):
        images.append({"id": _uuid(n), "name": f"db-{n:02d}", "status": "active",
                       "__os_type": "Linux"})  # fmt: skip
    images.append({"id": _uuid(12), "name": "web-shared", "status": "active",
                   "__os_type": "Linux", "__imagetype": "shared"})  # fmt: skip
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(images, ensure_ascii=False), encoding="utf-8")
    return path, {image["id"]: image for image in images}


def _export(url: str, out: Path, *extra: str) -> Any:
    return cli(["export", "--endpoint", url, "--out", str(out), *FAST, *extra])


def _rows(path: Path) -> list[dict[str, str]]:
    return read_report(path)  # a UTF-8 (BOM) CSV with a header, as the report is


def _web_linux() -> set[str]:
    return {_uuid(n) for n in range(8)}


def test_export_filters_on_the_server_and_where_over_pages_the_server_caps(
    tmp_path: Path,
) -> None:
    seed, _ = _seed(tmp_path)
    out = tmp_path / "web.csv"
    with emulator(seed=seed, images=10, page_cap=3) as running:
        result = _export(
            running.url, out, "--filter", "__imagetype=private", "--filter",
            "__os_type=Linux", "--where", "name~web-*", "--page-size", "50",
        )  # fmt: skip
        served = dict(running.emulator.request_counts)

    assert result.returncode == 0, result.stderr[-2000:]
    rows = _rows(out)
    assert [row["image_id"] for row in rows] == sorted(_web_linux())  # listed order, once each
    # 10 generated + 12 private Linux-or-not seeds: 20 private Linux images, 3 a page, and an
    # empty page to end on: every page was asked for, none skipped
    assert served[LIST] == 8
    assert "8 images" in result.stdout
    assert "in 8 pages" in result.stdout
    assert list(rows[0]) == [
        "image_id", "name", "__description", "__support_kvm", "hw_firmware_type", "min_ram",
        "owner_team", "serial",
    ]  # fmt: skip
    by_id = {row["image_id"]: row for row in rows}
    assert by_id[_uuid(1)]["__description"] == "生产环境 Web 镜像"
    assert by_id[_uuid(0)]["serial"] == "0001"
    assert by_id[_uuid(0)]["owner_team"] == "平台组"
    assert by_id[_uuid(3)]["owner_team"] == ""  # missing: an empty cell, left alone
    assert by_id[_uuid(3)]["min_ram"] == "6144"


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".xlsx"])
def test_an_unedited_export_sends_no_patch_with_skip_unchanged_and_plans_no_change(
    tmp_path: Path, suffix: str
) -> None:
    seed, _ = _seed(tmp_path)
    out = tmp_path / f"all{suffix}"
    with emulator(seed=seed, images=5, page_cap=4) as running:
        exported = _export(running.url, out, "--columns", "name,__description,min_ram,"
                           "__support_kvm,owner_team,serial,#status,#__os_type")  # fmt: skip
        before = json.dumps(running.emulator.images, sort_keys=True)
        run = cli(["run", str(out), "--endpoint", running.url, "--skip-unchanged",
                   "--report", str(tmp_path / "r.csv"), *FAST])  # fmt: skip
        plan = cli(["plan", str(out), "--diff", "--endpoint", running.url, *FAST])
        served = dict(running.emulator.request_counts)
        after = json.dumps(running.emulator.images, sort_keys=True)

    assert exported.returncode == 0, exported.stderr[-2000:]
    assert run.returncode == 0, run.stderr[-2000:]
    assert PATCH not in served
    assert after == before
    assert {row["status"] for row in read_report(tmp_path / "r.csv")} == {"skipped"}
    assert len(read_report(tmp_path / "r.csv")) == 18
    assert plan.returncode == 0, plan.stderr[-2000:]
    changes = [line for line in plan.stdout.splitlines() if "->" in line]
    assert changes
    assert all(line.endswith("(unchanged)") for line in changes)


def test_export_edit_one_column_then_run_applies_exactly_the_edited_images(
    tmp_path: Path,
) -> None:
    seed, _ = _seed(tmp_path)
    out = tmp_path / "edit.csv"
    with emulator(seed=seed, page_cap=5) as running:
        exported = _export(running.url, out, "--where", "__os_type=Linux")
        rows = _rows(out)
        for row in rows:
            if row["image_id"] in (_uuid(2), _uuid(11)):
                row["__description"] = "迁移后的描述"
        with out.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        run = cli(["run", str(out), "--endpoint", running.url, "--skip-unchanged",
                   "--report", str(tmp_path / "r.csv"), *FAST])  # fmt: skip
        served = dict(running.emulator.request_counts)
        applied = dict(running.emulator.apply_counts)
        images = {i: dict(running.emulator.images[i]) for i in (_uuid(2), _uuid(11), _uuid(4))}

    assert exported.returncode == 0, exported.stderr[-2000:]
    assert run.returncode == 0, run.stderr[-2000:]
    assert served[PATCH] == 2
    assert applied == {_uuid(2): 1, _uuid(11): 1}
    assert images[_uuid(2)]["__description"] == "迁移后的描述"
    assert images[_uuid(11)]["__description"] == "迁移后的描述"
    assert images[_uuid(4)]["__description"] == ""
    report = {row["image_id"]: row for row in read_report(tmp_path / "r.csv")}
    assert (
        report[_uuid(2)]["ops"]
        == '[{"op":"replace","path":"/__description","value":"迁移后的描述"}]'
    )


def test_set_and_unset_write_a_ready_manifest_that_run_applies(tmp_path: Path) -> None:
    seed, _ = _seed(tmp_path)
    out = tmp_path / "ready.xlsx"
    with emulator(seed=seed, page_cap=4) as running:
        exported = _export(
            running.url, out, "--where", "name~web-0[0-4]", "--columns", "name",
            "--set", "__support_kvm=TRUE", "--unset", "owner_team",
        )  # fmt: skip
        run = cli(["run", str(out), "--endpoint", running.url, "--skip-unchanged",
                   "--report", str(tmp_path / "r.csv"), *FAST])  # fmt: skip
        applied = dict(running.emulator.apply_counts)
        images = {_uuid(n): dict(running.emulator.images[_uuid(n)]) for n in range(8)}

    assert exported.returncode == 0, exported.stderr[-2000:]
    from openpyxl import load_workbook

    sheet = load_workbook(out, read_only=True).worksheets[0]
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert table[0] == ["image_id", "name", "__support_kvm", "owner_team"]
    assert table[1] == [_uuid(0), "web-00", "true", "<remove>"]  # checked as run sends it
    assert table[4][:3] == [_uuid(3), "web-03", "true"]
    assert table[4][3:] in ([], [None])  # no owner_team: nothing to remove, an empty cell
    assert run.returncode == 0, run.stderr[-2000:]
    # web-00 and web-03 held __support_kvm=false; web-00..02 had owner_team
    assert set(applied) == {_uuid(0), _uuid(1), _uuid(2), _uuid(3)}
    assert all(images[_uuid(n)]["__support_kvm"] == "true" for n in range(5))
    assert all("owner_team" not in images[_uuid(n)] for n in range(5))
    assert images[_uuid(6)]["__support_kvm"] == "false"  # not selected: untouched


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("=web", "no property name"),
        ("na me=web", "'na me' is not a property name"),
        ("!", "no property name"),
    ],
)
def test_a_bad_where_exits_2_with_one_line_and_lists_nothing(
    tmp_path: Path, expression: str, says: str
) -> None:
    out = tmp_path / "x.csv"
    with emulator(images=3) as running:
        result = _export(running.url, out, "--where", expression, "--log-format", "console")
        served = dict(running.emulator.request_counts)

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert says in result.stderr
    assert "KEY~GLOB" in result.stderr
    assert LIST not in served
    assert not out.exists()


def test_an_undocumented_server_filter_exits_2_and_lists_nothing(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    with emulator(images=3) as running:
        result = _export(running.url, out, "--filter", "colour=blue", "--log-format", "console")
        served = dict(running.emulator.request_counts)

    assert result.returncode == 2
    assert "--filter colour: not a filter the image service documents" in result.stderr
    assert "__imagetype" in result.stderr
    assert LIST not in served
    assert not out.exists()


def test_an_existing_output_is_refused_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    out.write_text("earlier\n", encoding="utf-8")
    with emulator(images=3) as running:
        refused = _export(running.url, out, "--log-format", "console")
        replaced = _export(running.url, out, "--overwrite")

    assert refused.returncode == 2
    assert "already exists" in refused.stderr
    assert replaced.returncode == 0, replaced.stderr[-2000:]
    assert len(_rows(out)) == 3


def test_a_list_that_fails_midway_writes_nothing_and_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    with emulator(images=30, page_cap=5, fail_rate=1.0) as running:
        result = _export(running.url, out, "--max-attempts", "2", "--log-format", "console")

    assert result.returncode == 1
    assert "listing the images failed at page 1: HTTP 5" in result.stderr
    assert not out.exists()


def test_glance_export_follows_next_links_and_round_trips_with_no_patch(tmp_path: Path) -> None:
    out = tmp_path / "glance.csv"
    with emulator(images=23, keys=(), iam_users=(USER,), page_cap=4) as running:
        env = openstack_env(tmp_path, running.url)
        exported = cli(["export", "--cloud", "emu", "--out", str(out), "--filter",
                        "status=active", "--page-size", "10", *FAST], env=env)  # fmt: skip
        run = cli(["run", str(out), "--cloud", "emu", "--skip-unchanged",
                   "--report", str(tmp_path / "r.csv"), *FAST], env=env)  # fmt: skip
        served = dict(running.emulator.request_counts)

    assert exported.returncode == 0, exported.stderr[-2000:]
    assert len({row["image_id"] for row in _rows(out)}) == len(_rows(out)) == 23
    assert served["GET /v2/images"] == 6  # 4 a page, the last one short: no next link
    assert "GET /v2/cloudimages" not in served
    assert run.returncode == 0, run.stderr[-2000:]
    assert "PATCH /v2/images/{image_id}" not in served


def test_the_migration_in_five_commands_applies_exactly_the_reviewed_edit_and_undoes_it(
    tmp_path: Path,
) -> None:
    """README's "Migration in five commands": export, edit one cell, plan --diff --out,
    run --plan --skip-unchanged (one PATCH), run the undo manifest (back as it was)."""
    seed, images = _seed(tmp_path)
    sheet, plan = tmp_path / "web.xlsx", tmp_path / "plan.json"
    undo, report = tmp_path / "undo.csv", tmp_path / "r.csv"
    target = _uuid(5)
    with emulator(seed=seed, page_cap=5) as running:
        where = ["--where", "name~web-*", "--where", "__os_type=Linux"]
        columns = ["--columns", "name,__description,__support_kvm,min_ram,#status"]
        exported = _export(running.url, sheet, *where, *columns)
        book = load_workbook(sheet)
        rows = list(book.active.iter_rows())
        header = [cell.value for cell in rows[0]]
        for row in rows[1:]:
            if row[header.index("image_id")].value == target:
                row[header.index("__description")].value = "迁移到鲲鹏后的镜像"
        book.save(sheet)
        url = ["--endpoint", running.url, *FAST]
        planned = cli(["plan", str(sheet), "--diff", "--out", str(plan), *url])
        applied_args = ["run", str(sheet), *url, "--plan", str(plan), "--skip-unchanged"]
        applied_args += ["--undo-manifest", str(undo), "--report", str(report)]
        applied = cli(applied_args)
        patches = running.emulator.request_counts[PATCH]
        changed = running.emulator.images[target]["__description"]
        undone = cli(["run", str(undo), *url, "--report", str(tmp_path / "undo-r.csv")])
        restored = running.emulator.images[target]["__description"]

    assert exported.returncode == 0, exported.stderr[-2000:]
    assert planned.returncode == 0, planned.stderr[-2000:]
    assert f"__description: {images[target]['__description']!r} -> '迁移到鲲鹏后的镜像'" in (
        planned.stdout
    )
    assert applied.returncode == 0, applied.stderr[-2000:]
    assert patches == 1
    assert changed == "迁移到鲲鹏后的镜像"
    statuses = {row["image_id"]: row["status"] for row in read_report(report)}
    assert statuses[target] == "succeeded"
    assert set(statuses.values()) == {"succeeded", "skipped"}
    assert undone.returncode == 0, undone.stderr[-2000:]
    assert restored == images[target]["__description"]


def test_an_unreachable_sign_in_exits_4_naming_the_reason_and_writes_nothing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "x.csv"
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with emulator(images=3) as running:
        env = clean_env(
            BATCH_IMS_IAM_DOMAIN="acme",
            BATCH_IMS_IAM_USER="ops",
            BATCH_IMS_IAM_PASSWORD="e2e-password-导出-0c1d",
            HUAWEICLOUD_SDK_IAM_ENDPOINT=closed,
            HUAWEICLOUD_SDK_PROJECT_ID="0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        )
        args = ["export", "--endpoint", running.url, "--out", str(out), "--log-format", "console"]
        result = cli(args, env=env)
        served = sum(running.emulator.request_counts.values())

    assert result.returncode == 4, result.stderr[-2000:]
    assert f"could not reach IAM at {closed} (connection refused)" in result.stderr
    assert (served, out.exists()) == (0, False)
