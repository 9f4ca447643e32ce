"""End to end: one manifest, several targets (`region` and `project_id` columns), each served
by its own emulator; and a journal written at one target skips nothing at another.

The emulators listen on loopback ports, so the `stack` provider's endpoint template
`http://127.0.0.1:{region}` names each by its port in the `region` column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import cli, emulator, read_report, write_csv

PATCH = "PATCH /v2/cloudimages/{image_id}"
PROJECTS = ["1" * 32, "2" * 32, "3" * 32]
IMAGES = [generated_image_id(i) for i in range(20)]


def _port(url: str) -> str:
    return str(urlsplit(url).port)


def _summary(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_three_targets_each_image_applied_to_its_own_target_exactly_once(tmp_path: Path) -> None:
    limits = {"rate_limit": 40.0, "rate_burst": 4.0}
    with (
        emulator(images=20, project_id=PROJECTS[0], **limits) as one,
        emulator(images=20, project_id=PROJECTS[1], **limits) as two,
        emulator(images=20, project_id=PROJECTS[2], **limits) as three,
    ):
        servers = [one, two, three]
        rows = [["image_id", "region", "project_id", "name"]]
        for n, image in enumerate(IMAGES):  # targets interleaved, the same ids at each
            for k, server in enumerate(servers):
                rows.append([image, _port(server.url), PROJECTS[k], f"生产环境-{k}-{n}"])
        manifest = write_csv(tmp_path / "m.csv", rows)
        args = ["run", str(manifest), "--provider", "stack"]
        args += ["--endpoint", "http://127.0.0.1:{region}", "--rate", "30"]
        args += ["--report", str(tmp_path / "r.csv"), "--journal", str(tmp_path / "j.jsonl")]
        args += ["--summary-json", str(tmp_path / "s.json")]
        result = cli(args)
        applied = [dict(server.emulator.apply_counts) for server in servers]
        names = [[server.emulator.images[i]["name"] for i in IMAGES] for server in servers]
        throttled = [server.emulator.fault_counts.get("rate_limited", 0) for server in servers]

    assert result.returncode == 0, result.stderr[-3000:]
    assert applied == [dict.fromkeys(IMAGES, 1)] * 3
    assert names == [[f"生产环境-{k}-{n}" for n in range(20)] for k in range(3)]
    assert throttled == [0, 0, 0]  # each target kept to its own --rate
    report = read_report(tmp_path / "r.csv")
    assert len(report) == 60
    targets = {row["target"] for row in report}
    assert len(targets) == 3
    assert all(f"project {p}" in " ".join(targets) for p in PROJECTS)
    assert {row["status"] for row in report} == {"succeeded"}
    lines = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert {line["target"] for line in lines if "image_id" in line} == targets
    summary = _summary(tmp_path / "s.json")
    assert summary["images"] == 60
    assert summary["counts"]["succeeded"] == 60
    assert {t: c["succeeded"] for t, c in summary["targets"].items()} == dict.fromkeys(targets, 20)
    assert summary["rate_asked"] == 3 * 30.0  # each target's --rate is its own


def test_a_bad_target_cell_names_the_file_row_and_column_and_sends_nothing(
    tmp_path: Path,
) -> None:
    with emulator(images=2) as running:
        rows = [
            ["image_id", "project_id", "name"],
            [IMAGES[0], PROJECTS[0], "镜像"],
            [IMAGES[1], "not-a-project", "镜像"],
        ]
        manifest = write_csv(tmp_path / "m.csv", rows)
        result = cli(["run", str(manifest), "--endpoint", running.url])
        patches = running.emulator.request_counts.get(PATCH, 0)

    assert result.returncode == 2
    assert "m.csv, row 3, column 'project_id' (B)" in result.stderr
    assert "32 hexadecimal digits" in result.stderr
    assert patches == 0


def test_a_journal_from_another_target_skips_nothing(tmp_path: Path) -> None:
    manifest = write_csv(
        tmp_path / "m.csv", [["image_id", "name"], *([i, "镜像测试"] for i in IMAGES[:5])]
    )
    journal = tmp_path / "j.jsonl"
    with emulator(images=5) as first, emulator(images=5) as second:
        done = cli(["run", str(manifest), "--endpoint", first.url, "--journal", str(journal)])
        args = ["run", str(manifest), "--endpoint", second.url, "--journal", str(journal)]
        resumed = cli([*args, "--resume", "--report", str(tmp_path / "second.csv")])
        applied = dict(second.emulator.apply_counts)

    assert done.returncode == 0, done.stderr[-2000:]
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert applied == dict.fromkeys(IMAGES[:5], 1)
    report = read_report(tmp_path / "second.csv")
    assert {row["status"] for row in report} == {"succeeded"}


def test_plan_shows_each_target_and_never_takes_a_target_column_for_an_attribute(
    tmp_path: Path,
) -> None:
    rows = [
        ["image_id", "region", "name"],
        [IMAGES[0], "cn-north-4", "北京镜像"],
        [IMAGES[1], "cn-east-3", "上海镜像"],
        [IMAGES[2], "", "默认区域镜像"],
    ]
    manifest = write_csv(tmp_path / "m.csv", rows)

    result = cli(["plan", str(manifest), "--region", "ap-southeast-1"])

    assert result.returncode == 0, result.stderr
    headers = [line for line in result.stdout.splitlines() if line.startswith("target ")]
    assert headers == [
        "target region=cn-north-4:",
        "target region=cn-east-3:",
        "target (the run’s own):",
    ]
    assert "region" not in [
        line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")
    ]
