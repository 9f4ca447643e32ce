"""Rows hidden in a workbook: marked by the reader, listed, and split off with "skip"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from openpyxl import Workbook

from batch_ims.clouds.huawei.rules import IMS
from batch_ims.errors import ManifestError
from batch_ims.manifest import load_manifest, load_manifest_targets
from batch_ims.manifest.hidden import rows_text
from batch_ims.models import Op

A = "3f1c2a9e-5b7d-4c1e-9a2b-0c4d6e8f1a2b"
B = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _sheet(path: Path, rows: list[list[str | None]], hidden: tuple[int, ...]) -> Path:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for number in hidden:
        sheet.row_dimensions[number].hidden = True
    book.save(path)
    return path


def test_rows_text_joins_runs_into_ranges_and_cuts_a_long_list() -> None:
    assert rows_text(np.array([4, 6, 7, 8, 9, 12])) == "4, 6-9, 12"
    long = rows_text(np.arange(2, 100, 2))
    assert long.startswith("2, 4, 6")
    assert long.endswith(", 40, ... (49 rows)")


def test_hidden_rows_are_read_as_rows_and_listed_when_nothing_is_chosen(tmp_path: Path) -> None:
    rows = [["image_id", "name"], [A, "生产环境 Web 镜像"], [B, "镜像测试-3"]]
    manifest = load_manifest(_sheet(tmp_path / "w.xlsx", rows, hidden=(3,)), rules=IMS)
    assert [t.image_id for t in manifest.tasks] == [A, B]
    assert manifest.hidden is not None
    assert manifest.hidden.rows.tolist() == [3]
    assert manifest.hidden.describe() == "row 3"


def test_skip_leaves_hidden_rows_out_of_validation_and_keeps_their_ops(tmp_path: Path) -> None:
    rows = [["image_id", "name"], [A, "生产环境 Web 镜像"], [A, "另一个名字"], [B, "镜像测试-3"]]
    path = _sheet(tmp_path / "w.xlsx", rows, hidden=(3, 4))
    included = load_manifest(path, rules=IMS, hidden_rows="include")
    skipped = load_manifest(path, rules=IMS, hidden_rows="skip")

    assert [item.image_id for item in included.invalid] == [A]  # two names for one image
    assert skipped.invalid == []
    assert [(t.image_id, t.ops) for t in skipped.tasks] == [
        (A, (Op("add", "/name", "生产环境 Web 镜像"),))
    ]
    assert skipped.row_count == 1
    assert skipped.hidden is not None
    assert [(i.image_id, i.rows) for i in skipped.hidden.skipped_images()] == [
        (A, (3,)),
        (B, (4,)),
    ]


def test_blank_hidden_rows_are_not_findings(tmp_path: Path) -> None:
    rows = [["image_id", "name"], [A, "生产环境 Web 镜像"], [None, None]]
    path = _sheet(tmp_path / "w.xlsx", rows, hidden=(3, 4))
    assert load_manifest(path, rules=IMS).hidden is None


def test_skip_with_every_row_hidden_is_refused(tmp_path: Path) -> None:
    rows = [["image_id", "name"], [A, "生产环境 Web 镜像"]]
    path = _sheet(tmp_path / "w.xlsx", rows, hidden=(2,))
    with pytest.raises(ManifestError, match=r"every data row is hidden \(row 2\)"):
        load_manifest(path, rules=IMS, hidden_rows="skip")


def test_a_target_whose_every_row_is_hidden_keeps_them_to_report_with_skip(
    tmp_path: Path,
) -> None:
    rows = [
        ["image_id", "region", "name"],
        [A, "cn-north-4", "生产环境 Web 镜像"],
        [B, "cn-east-3", "镜像测试-3"],
    ]
    path = _sheet(tmp_path / "w.xlsx", rows, hidden=(3,))
    parts = load_manifest_targets(
        path, rules=IMS, target_columns=("region", "project_id"), hidden_rows="skip"
    )
    (north, north_part), (east, east_part) = parts
    assert (north.values, north_part.row_count, north_part.hidden) == (
        {"region": "cn-north-4"},
        1,
        None,
    )
    assert (east.values, east_part.row_count, east_part.image_count) == (
        {"region": "cn-east-3"},
        0,
        0,
    )
    assert east_part.hidden is not None
    assert [(i.image_id, i.rows) for i in east_part.hidden.skipped_images()] == [(B, (3,))]
    with pytest.raises(ManifestError, match=r"every data row is hidden \(rows 2-3\)"):
        load_manifest(
            _sheet(tmp_path / "all.xlsx", rows, hidden=(2, 3)), rules=IMS, hidden_rows="skip"
        )
