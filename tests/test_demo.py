"""`batch-ims demo`: the shipped manifest and images, found through the package."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from batch_ims.sample_data import DEMO_MANIFEST, SEED_IMAGES, sample


def test_the_demo_data_is_read_through_the_package() -> None:
    assert sample(DEMO_MANIFEST).read_text(encoding="utf-8").startswith("image_id,op,path,value")
    assert "web-centos7" in sample(SEED_IMAGES).read_text(encoding="utf-8")


def test_demo_run_from_another_folder_exits_0_with_the_documented_counts(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "batch_ims", "demo", "--out", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "6 succeeded, 2 failed, 2 invalid" in done.stdout
    with (tmp_path / "out" / "report.csv").open(encoding="utf-8-sig") as report:
        rows = {row["image_id"]: row for row in csv.DictReader(report)}
    web = rows["cc67105f-acf9-542a-8592-7e6f5a5f22ec"]
    assert (web["status"], "生产环境 Web 镜像 (迁移批次 1)" in web["ops"]) == ("succeeded", True)
