"""End to end: plan, plan --diff, dry run, undo manifests, --skip-unchanged and --verify.

The real CLI in a subprocess against the emulator over loopback (the verify test uses a
tiny server of its own that answers a PATCH with a value other than the one sent).
"""

from __future__ import annotations

import asyncio
import copy
import csv
import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import aksk_env, clean_env, cli, emulator, read_report, write_csv

PATCH = "PATCH /v2/cloudimages/{image_id}"
GET = "GET /v2/cloudimages"
FAST = ["--rate", "100000", "--concurrency", "8"]

IMG_A = "0a7d6c1e-2b3f-4d5e-8f60-718293a4b5c1"
IMG_B = "1b8e7d2f-3c4a-4e5f-9a61-829304b5c6d2"
IMG_C = "2c9f8e3a-4d5b-4f6a-8b72-93a415c6d7e3"
MISSING = "9e8d7c6b-5a49-4382-8170-6f5e4d3c2b1a"
QUEUED = "3c2f6a1e-0d4b-4a8e-9a57-1b2c3d4e5f60"


def _seed(tmp_path: Path) -> Path:
    images = [
        {"id": IMG_A, "name": "web-a", "status": "active", "__description": ""},
        {
            "id": IMG_B,
            "name": "db-b",
            "status": "active",
            "__description": "old words",
            "owner_team": "platform",
        },
        {"id": IMG_C, "name": "batch-c", "status": "active", "min_ram": 0},
        {"id": QUEUED, "name": "still-uploading", "status": "queued"},
    ]
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(images), encoding="utf-8")
    return path


def _migration(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "migration.csv",
        [
            ["image_id", "op", "path", "value"],
            [IMG_A, "replace", "name", "web-a-v2"],
            [IMG_A, "replace", "__description", "x"],
            [IMG_B, "replace", "__description", "new words"],
            [IMG_B, "remove", "owner_team", ""],
            [IMG_B, "add", "cost_center", "cc-42"],
            [IMG_C, "replace", "name", "batch-c-v2"],
            [IMG_C, "replace", "min_ram", "2048"],
            [IMG_C, "add", "__support_xen", "true"],
            [MISSING, "replace", "name", "ghost"],
            [QUEUED, "replace", "name", "too-early"],
        ],
    )


def _without_updated_at(images: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        image_id: {k: v for k, v in image.items() if k != "updated_at"}
        for image_id, image in images.items()
    }


def _run(manifest: Path, url: str, report: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli(["run", str(manifest), "--endpoint", url, "--report", str(report), *FAST, *extra])


def _read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


# --- plan -----------------------------------------------------------------------------


def test_plan_of_a_valid_manifest_exits_0_and_counts_ops_per_attribute_without_a_server(
    tmp_path: Path,
) -> None:
    manifest = write_csv(
        tmp_path / "ok.csv",
        [
            ["image_id", "op", "path", "value"],
            [IMG_A, "replace", "name", "a2"],
            [IMG_B, "replace", "name", "b2"],
            [IMG_B, "add", "/__description", "hello"],
            [IMG_C, "remove", "owner_team", ""],
        ],
    )

    result = cli(["plan", str(manifest)], env=clean_env(), cwd=tmp_path)

    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "4 rows, 3 images to update (4 operations), 0 invalid" in lines[0]
    table = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert table == {
        "__description": ["1", "0", "0", "'hello'"],
        "name": ["0", "2", "0", "'a2',", "'b2'"],
        "owner_team": ["0", "0", "1"],
    }
    assert lines[1].split() == ["attribute", "add", "replace", "remove", "sample", "values"]


def test_plan_header_and_list_both_count_invalid_rows_and_the_header_names_their_images(
    tmp_path: Path,
) -> None:
    manifest = write_csv(
        tmp_path / "bad.csv",
        [
            ["image_id", "op", "path", "value"],
            [IMG_A, "replace", "name", "镜像测试-3"],
            [IMG_A, "replace", "min_ram", "很多"],
            [IMG_A, "replace", "min_disk", "大"],
            [IMG_B, "replace", "name", "生产环境 Web 镜像"],
        ],
    )

    result = cli(["plan", str(manifest)], env=clean_env())

    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].endswith(
        "4 rows, 1 image to update (1 operation), 2 invalid rows in 1 image (not sent)"
    )
    listed = lines.index("invalid rows (2):")
    assert [line.split(": row ")[1][:1] for line in lines[listed + 1 :]] == ["3", "4"]


def test_plan_with_one_bad_row_exits_1_naming_row_and_column_and_reports_it(
    tmp_path: Path,
) -> None:
    manifest = write_csv(
        tmp_path / "bad.csv",
        [
            ["image_id", "op", "path", "value"],
            [IMG_A, "replace", "name", "a2"],
            [IMG_B, "replace", "min_ram", "lots"],
            [IMG_C, "replace", "name", "c2"],
        ],
    )
    report = tmp_path / "invalid.csv"

    result = cli(["plan", str(manifest), "--report", str(report)], env=clean_env())

    assert result.returncode == 1, result.stderr[-2000:]
    assert "3 rows, 2 images to update (2 operations), 1 invalid row in 1 image (not sent)" in (
        result.stdout
    )
    invalid_lines = [line for line in result.stdout.splitlines() if "row 3" in line]
    assert len(invalid_lines) == 1
    assert "column 'value'" in invalid_lines[0]
    assert "'lots'" in invalid_lines[0]
    assert "min_ram" in invalid_lines[0]
    rows = read_report(report)
    assert [(r["image_id"], r["status"], r["rows"], r["error_code"]) for r in rows] == [
        (IMG_B, "invalid", "3", "invalid_row")
    ]
    assert "column 'value'" in rows[0]["error_message"]
    assert list(rows[0]) == [
        "image_id",
        "status",
        "http_status",
        "error_code",
        "error_message",
        "attempts",
        "rows",
        "ops",
        "request_id",
        "duration_ms",
        "finished_at",
        "note",
        "target",
    ]


def test_plan_of_an_unreadable_manifest_exits_2_with_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\x00\x01\x02garbage\xff\xfe")

    missing = cli(["plan", str(tmp_path / "nowhere.csv")], env=clean_env())
    garbage = cli(["plan", str(broken)], env=clean_env())

    assert (missing.returncode, garbage.returncode) == (2, 2)
    assert "nowhere.csv" in missing.stderr
    assert str(broken) in garbage.stderr
    for result in (missing, garbage):
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr


def test_plan_diff_prints_before_and_after_per_attribute_and_sends_no_patch(
    tmp_path: Path,
) -> None:
    ids = [generated_image_id(i) for i in range(2)]
    manifest = write_csv(
        tmp_path / "diff.csv",
        [
            ["image_id", "op", "path", "value"],
            [ids[0], "replace", "name", "renamed-0"],
            [ids[0], "add", "__support_xen", "true"],
            [ids[0], "replace", "__description", ""],
            [ids[1], "remove", "hw_firmware_type", ""],
            [MISSING, "replace", "name", "ghost"],
        ],
    )

    with emulator(images=2) as running:
        result = cli(["plan", str(manifest), "--diff", "--endpoint", running.url, *FAST])
        counts = dict(running.emulator.request_counts)
        state = copy.deepcopy(running.emulator.images)

    assert result.returncode == 1, result.stderr[-2000:]  # MISSING is not found: a run would 404
    diff = result.stdout[result.stdout.index(f"{ids[0]} (") :].splitlines()
    assert diff == [
        f"{ids[0]} (image-00000):",
        "  name: 'image-00000' -> 'renamed-0'",
        "  __support_xen: (absent) -> 'true'",
        "  __description: '' -> ''  (unchanged)",
        f"{ids[1]} (image-00001):",
        "  hw_firmware_type: 'bios' -> (absent)",
        f"{MISSING}: not found",
    ]
    assert counts == {GET: 3}
    assert state[ids[0]]["name"] == "image-00000"


# --- dry run --------------------------------------------------------------------------


def test_dry_run_sends_no_request_and_reports_every_image_skipped(tmp_path: Path) -> None:
    ids = [generated_image_id(i) for i in range(5)]
    rows = [["image_id", "name", "__description"]]
    rows += [[image_id, f"dry-{n}", "planned"] for n, image_id in enumerate(ids)]
    manifest = write_csv(tmp_path / "wide.csv", rows)
    report = tmp_path / "dry.csv"

    with emulator(images=5) as running:
        before = copy.deepcopy(running.emulator.images)
        result = _run(manifest, running.url, report, "--dry-run")
        counts = dict(running.emulator.request_counts)
        after = running.emulator.images

    assert result.returncode == 0, result.stderr[-2000:]
    assert sum(counts.values()) == 0
    assert after == before
    statuses = {row["image_id"]: (row["status"], row["note"]) for row in read_report(report)}
    assert statuses == {image_id: ("skipped", "dry run: not sent") for image_id in ids}


# --- undo -----------------------------------------------------------------------------


def test_undo_manifest_of_a_migration_restores_every_touched_attribute_exactly(
    tmp_path: Path,
) -> None:
    undo = tmp_path / "undo.csv"

    with emulator(seed=_seed(tmp_path)) as running:
        original = copy.deepcopy(running.emulator.images)
        forward = _run(
            _migration(tmp_path),
            running.url,
            tmp_path / "forward.csv",
            "--undo-manifest",
            str(undo),
        )
        migrated = copy.deepcopy(running.emulator.images)
        back = _run(undo, running.url, tmp_path / "back.csv")
        restored = copy.deepcopy(running.emulator.images)

    assert forward.returncode == 1, forward.stderr[-2000:]  # the missing and the queued image
    assert back.returncode == 0, back.stderr[-2000:]
    assert migrated[IMG_A]["__description"] == "x"
    assert "owner_team" not in migrated[IMG_B]
    assert migrated[IMG_B]["cost_center"] == "cc-42"
    assert migrated[IMG_C]["min_ram"] == 2048
    assert migrated[IMG_C]["__support_xen"] == "true"
    undo_rows = _read_rows(undo)
    assert undo_rows[0] == ["image_id", "op", "path", "value"]
    assert sorted(undo_rows[1:]) == sorted(
        [
            [IMG_A, "replace", "name", "web-a"],
            [IMG_A, "replace", "__description", ""],
            [IMG_B, "replace", "__description", "old words"],
            [IMG_B, "add", "owner_team", "platform"],
            [IMG_B, "remove", "cost_center", ""],
            [IMG_C, "replace", "name", "batch-c"],
            [IMG_C, "replace", "min_ram", "0"],
            [IMG_C, "remove", "__support_xen", ""],
        ]
    )
    assert _without_updated_at(restored) == _without_updated_at(original)


def test_rerunning_an_undo_manifest_with_skip_unchanged_sends_no_patch(tmp_path: Path) -> None:
    undo = tmp_path / "undo.csv"
    again = tmp_path / "again.csv"

    with emulator(seed=_seed(tmp_path)) as running:
        _run(_migration(tmp_path), running.url, tmp_path / "f.csv", "--undo-manifest", str(undo))
        back = _run(undo, running.url, tmp_path / "back.csv")
        counts_before = dict(running.emulator.request_counts)
        applied_before = dict(running.emulator.apply_counts)
        result = _run(undo, running.url, again, "--skip-unchanged")
        counts_after = dict(running.emulator.request_counts)
        applied_after = dict(running.emulator.apply_counts)

    assert back.returncode == 0, back.stderr[-2000:]
    assert result.returncode == 0, result.stderr[-2000:]
    assert counts_before[PATCH] > 0  # the undo itself patched
    assert counts_after[PATCH] - counts_before[PATCH] == 0
    assert counts_after[GET] - counts_before.get(GET, 0) == 3
    assert applied_after == applied_before
    rows = read_report(again)
    assert sorted(row["image_id"] for row in rows) == sorted([IMG_A, IMG_B, IMG_C])
    assert {(row["status"], row["note"]) for row in rows} == {
        ("skipped", "unchanged: every value already holds (read first; no PATCH sent)")
    }
    # no PATCH went out for these rows: nothing in the report may suggest one did
    assert {(row["attempts"], row["http_status"], row["request_id"]) for row in rows} == {
        ("0", "", "")
    }


def test_skip_unchanged_on_wide_layout_turns_add_into_replace_where_the_attribute_exists(
    tmp_path: Path,
) -> None:
    ids = [generated_image_id(i) for i in range(2)]
    manifest = write_csv(
        tmp_path / "wide.csv",
        [
            ["image_id", "name", "__description", "__support_xen", "hw_firmware_type"],
            [ids[0], "image-00000", "described", "true", "uefi"],
            [ids[1], "renamed-1", "", "", ""],
        ],
    )
    report = tmp_path / "report.jsonl"

    with emulator(images=2) as running:
        result = _run(manifest, running.url, report, "--skip-unchanged")
        state = copy.deepcopy(running.emulator.images)

    assert result.returncode == 0, result.stderr[-2000:]
    ops = {
        line["image_id"]: line["ops"]
        for line in map(json.loads, report.read_text(encoding="utf-8").splitlines())
    }
    assert ops == {
        ids[0]: [
            {"op": "replace", "path": "/__description", "value": "described"},
            {"op": "add", "path": "/__support_xen", "value": "true"},
            {"op": "replace", "path": "/hw_firmware_type", "value": "uefi"},
        ],
        ids[1]: [{"op": "replace", "path": "/name", "value": "renamed-1"}],
    }
    assert state[ids[0]]["__support_xen"] == "true"
    assert state[ids[0]]["hw_firmware_type"] == "uefi"
    assert state[ids[1]]["name"] == "renamed-1"


# --- verify ---------------------------------------------------------------------------

_LYING_ABOUT = IMG_B


async def _patch_answering_a_normalised_name(request: web.Request) -> web.Response:
    """Applies the ops to a blank image; for `_LYING_ABOUT`, answers with the name upper-cased."""
    image_id = request.match_info["image_id"]
    image: dict[str, Any] = {"id": image_id, "name": "before", "status": "active"}
    for op in await request.json():
        attribute = op["path"][1:]
        if op["op"] == "remove":
            image.pop(attribute, None)
        else:
            image[attribute] = op["value"]
    if image_id == _LYING_ABOUT:
        image["name"] = str(image["name"]).upper()
    return web.json_response(image, headers={"X-Request-Id": "req-" + image_id[:8]})


@contextmanager
def _serve(app: web.Application) -> Iterator[str]:
    """Serve `app` on a loopback port from a background thread; yields its base URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(app)

    async def start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def test_verify_reports_an_answer_that_differs_from_the_intended_value_as_verify_mismatch(
    tmp_path: Path,
) -> None:
    manifest = write_csv(
        tmp_path / "m.csv",
        [["image_id", "name", "__description"], [IMG_A, "honest-a", "d"], [IMG_B, "lied-b", "d"]],
    )
    app = web.Application()
    app.router.add_patch("/v2/cloudimages/{image_id}", _patch_answering_a_normalised_name)
    checked = tmp_path / "checked.csv"
    trusting = tmp_path / "trusting.csv"

    with _serve(app) as url:
        verified = cli(
            ["run", str(manifest), "--endpoint", url, "--report", str(checked), "--verify", *FAST],
            env=aksk_env(),
        )
        unverified = cli(
            ["run", str(manifest), "--endpoint", url, "--report", str(trusting), *FAST],
            env=aksk_env(),
        )

    assert verified.returncode == 1, verified.stderr[-2000:]
    by_id = {row["image_id"]: row for row in read_report(checked)}
    assert (by_id[IMG_A]["status"], by_id[IMG_A]["error_code"]) == ("succeeded", "")
    assert (by_id[IMG_B]["status"], by_id[IMG_B]["error_code"]) == ("failed", "verify_mismatch")
    assert by_id[IMG_B]["http_status"] == "200"
    assert "name" in by_id[IMG_B]["error_message"]
    assert "__description" not in by_id[IMG_B]["error_message"]
    assert unverified.returncode == 0, unverified.stderr[-2000:]
    assert {row["status"] for row in read_report(trusting)} == {"succeeded"}


def test_plan_report_never_replaces_an_existing_file_without_overwrite(tmp_path: Path) -> None:
    """`plan --report` goes through the run's output checks: an earlier file stands."""
    manifest = write_csv(
        tmp_path / "m.csv", [["image_id", "min_ram"], [generated_image_id(1), "很多"]]
    )
    report = tmp_path / "invalid.csv"
    report.write_text("an earlier run's report, 镜像\n", encoding="utf-8")

    refused = cli(["plan", str(manifest), "--report", str(report)], env=clean_env())
    kept = report.read_text(encoding="utf-8")
    replaced = cli(["plan", str(manifest), "--report", str(report), "--overwrite"], env=clean_env())

    assert refused.returncode == 2, refused.stderr
    assert "--overwrite" in refused.stderr
    assert kept == "an earlier run's report, 镜像\n"
    assert replaced.returncode == 1, replaced.stderr
    assert [row["status"] for row in read_report(report)] == ["invalid"]


def test_plan_explain_prints_the_target_without_sending(tmp_path: Path) -> None:
    manifest = write_csv(
        tmp_path / "m.csv", [["image_id", "name"], [generated_image_id(1), "镜像"]]
    )
    env = {**clean_env(), "HUAWEICLOUD_SDK_AK": "AKEXAMPLE0000000", "HUAWEICLOUD_SDK_SK": "s" * 40}

    result = cli(["plan", str(manifest), "--region", "eu-ch2", "--explain"], env=env)

    assert result.returncode == 0, result.stderr
    assert "target: otc (Open Telekom Cloud)" in result.stdout
    assert "image endpoint: https://ims.eu-ch2.sc.otc.t-systems.com" in result.stdout
    assert "sign-in:        https://iam-pub.eu-ch2.sc.otc.t-systems.com" in result.stdout
    assert "s" * 40 not in result.stdout + result.stderr
