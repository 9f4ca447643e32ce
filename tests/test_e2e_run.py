"""End to end: the real CLI against the emulator over loopback, report checked row by row."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from openpyxl import Workbook

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import cli, emulator, json_lines, read_report, write_csv

QUEUED = "3c2f6a1e-0d4b-4a8e-9a57-1b2c3d4e5f60"
MISSING = "9e8d7c6b-5a49-4382-8170-6f5e4d3c2b1a"


def _seed(tmp_path: Path) -> Path:
    seed = [{"id": QUEUED, "name": "still-uploading", "status": "queued"}]
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


def test_mixed_manifest_reports_every_image_and_changes_only_valid_ones(tmp_path: Path) -> None:
    ids = [generated_image_id(i) for i in range(300)]
    rows: list[list[str]] = [["image_id", "op", "path", "value"]]
    for i in range(250):
        rows.append([ids[i], "replace", "name", f"img-{i}-镜像"])
    for i in range(0, 250, 2):  # second row of the same image, far from its first
        rows.append([ids[i], "add", "/__support_kvm", "true"])
    rows.append([ids[250], "replace", "min_ram", "lots"])  # invalid value
    rows.append([ids[250], "replace", "name", "fine-name"])  # same image: not sent at all
    rows.append(["not-a-uuid", "replace", "name", "x"])  # invalid id: its own report row
    rows.append([MISSING, "replace", "name", "ghost"])
    rows.append([QUEUED, "replace", "name", "renamed-too-early"])
    manifest = write_csv(tmp_path / "manifest.csv", rows)
    report = tmp_path / "out" / "report.csv"

    with emulator(images=300, seed=_seed(tmp_path)) as running:
        result = cli(
            [
                "run",
                str(manifest),
                "--endpoint",
                running.url,
                "--report",
                str(report),
                "--rate",
                "100000",
                "--concurrency",
                "16",
            ]
        )
        state = running.emulator.images
        applied = dict(running.emulator.apply_counts)

    assert result.returncode == 1, result.stderr[-2000:]
    by_id = {row["image_id"]: row for row in read_report(report)}
    assert len(read_report(report)) == 250 + 1 + 1 + 1 + 1
    for i in range(250):
        row = by_id[ids[i]]
        assert row["status"] == "succeeded"
        assert row["http_status"] == "200"
        expected_ops = [{"op": "replace", "path": "/name", "value": f"img-{i}-镜像"}]
        expected_rows = [str(i + 2)]
        if i % 2 == 0:
            expected_ops.append({"op": "add", "path": "/__support_kvm", "value": "true"})
            expected_rows.append(str(250 + i // 2 + 2))
        assert json.loads(row["ops"]) == expected_ops
        assert row["rows"] == ";".join(expected_rows)
        assert state[ids[i]]["name"] == f"img-{i}-镜像"
        assert applied[ids[i]] == 1
    assert by_id[ids[250]]["status"] == "invalid"
    assert "min_ram" in by_id[ids[250]]["error_message"]
    assert by_id[ids[250]]["rows"] == "377;378"
    assert state[ids[250]]["name"] != "fine-name"
    assert by_id["not-a-uuid"]["status"] == "invalid"
    assert by_id[MISSING]["status"] == "failed"
    assert by_id[MISSING]["http_status"] == "404"
    assert by_id[MISSING]["error_code"] == "IMG.0027"
    assert by_id[QUEUED]["status"] == "failed"
    assert by_id[QUEUED]["error_code"] == "IMG.0046"
    assert state[QUEUED]["name"] == "still-uploading"
    events = json_lines(result.stderr)
    finished = [e for e in events if e["event"] == "image.finished"]
    assert len(finished) == 254
    summary = next(e for e in events if e["event"] == "run.finished")
    assert summary["counts"] == {
        "succeeded": 250,
        "failed": 2,
        "invalid": 2,
        "skipped": 0,
        "aborted": 0,
        "drifted": 0,
    }


def test_wide_xlsx_number_cells_arrive_as_integer_strings(tmp_path: Path) -> None:
    ids = [generated_image_id(i) for i in range(3)]
    book = Workbook()
    sheet = book.active
    sheet.append(["image_id", "min_ram", "name", "__support_kvm", "owner_team"])
    sheet.append([ids[0], 4096, "wide-0", None, "<remove>"])
    sheet.append([ids[1], None, "wide-1", "TRUE", None])
    sheet.append([ids[2], 1024, None, None, None])
    manifest = tmp_path / "wide.xlsx"
    book.save(manifest)
    report = tmp_path / "report.jsonl"

    with emulator(images=3) as running:
        running.emulator.images[ids[0]]["owner_team"] = "platform"
        result = cli(["run", str(manifest), "--endpoint", running.url, "--report", str(report)])
        state = running.emulator.images

    assert result.returncode == 0, result.stderr[-2000:]
    lines = {row["image_id"]: row for row in json_lines(report.read_text(encoding="utf-8"))}
    assert lines[ids[0]]["ops"] == [
        {"op": "add", "path": "/min_ram", "value": "4096"},
        {"op": "add", "path": "/name", "value": "wide-0"},
        {"op": "remove", "path": "/owner_team"},
    ]
    assert lines[ids[1]]["ops"] == [
        {"op": "add", "path": "/name", "value": "wide-1"},
        {"op": "add", "path": "/__support_kvm", "value": "true"},
    ]
    assert str(state[ids[0]]["min_ram"]) == "4096"
    assert "owner_team" not in state[ids[0]]
    assert str(state[ids[2]]["min_ram"]) == "1024"


def test_unreadable_manifest_exits_2_with_one_line_and_sends_nothing(tmp_path: Path) -> None:
    manifest = tmp_path / "broken.csv"
    manifest.write_bytes(b"\x00\x01\x02garbage\xff\xfe")
    with emulator(images=1) as running:
        result = cli(
            ["run", str(manifest), "--endpoint", running.url, "--report", str(tmp_path / "r.csv")]
        )
        requests = sum(running.emulator.request_counts.values())
    assert result.returncode == 2
    events = json_lines(result.stderr)  # every stderr line is a JSON event
    errors = [e for e in events if e["level"] == "error"]
    assert len(errors) == 1, result.stderr
    event = errors[0]
    assert (event["event"], event["exit_code"]) == ("run.error", 2)
    assert str(manifest) in event["error"]
    assert "NUL" in event["error"]
    assert requests == 0


def test_unreadable_manifest_on_a_console_is_one_plain_line(tmp_path: Path) -> None:
    manifest = tmp_path / "empty.csv"
    manifest.write_bytes(b"")
    result = cli(
        [
            "run",
            str(manifest),
            "--endpoint",
            "http://127.0.0.1:9",
            "--log-format",
            "console",
            "--report",
            str(tmp_path / "r.csv"),
        ]
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [
        f"batch-ims: error: {manifest}: the file is empty; expected a header row and data rows"
    ]
    assert "Traceback" not in result.stderr


def test_plain_http_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    manifest = write_csv(tmp_path / "m.csv", [["image_id", "name"], [str(uuid.uuid4()), "x"]])
    result = cli(["run", str(manifest), "--endpoint", "http://ims.example.com"])
    assert result.returncode == 2
    assert "plain http" in result.stderr
