"""batch_ims.output.wide: the export's manifest, read back by the manifest reader unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_ims.clouds.huawei.rules import IMS
from batch_ims.errors import UsageError
from batch_ims.manifest import load_manifest
from batch_ims.manifest.read import read_table
from batch_ims.output.wide import WideManifest

A = "0a7d6c1e-2b3f-4d5e-8f60-718293a4b5c1"
B = "1b8e7d2f-3c4a-4e5f-9a61-829304b5c6d2"
CELLS = {
    "name": "中文 镜像",
    "__description": "=1+1",
    "serial": "0001",
    "note": " -3 ",
    "tabbed": "a\tb",
    "#status": "active",
}


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".xlsx"])
def test_every_value_reads_back_as_written(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    writer = WideManifest(path, overwrite=False)
    writer.add(A, CELLS)
    writer.add(B, {"name": "b"})
    writer.close(list(CELLS))

    table = read_table(str(path), sheet=None, encoding=None)

    assert table.header == ("image_id", *CELLS)
    assert [list(column) for column in table.columns] == [
        [A, B],
        *([value, "b" if name == "name" else ""] for name, value in CELLS.items()),
    ]
    manifest = load_manifest(path, rules=IMS)
    sent = [op.attribute for op in manifest.tasks[0].ops]
    assert sent == ["name", "__description", "serial", "note", "tabbed"]  # not #status


def test_the_xlsx_cells_are_text_never_formulas(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    path = tmp_path / "out.xlsx"
    writer = WideManifest(path, overwrite=False)
    writer.add(A, {"__description": "=1+1", "serial": "0001"})
    writer.close(["__description", "serial"])

    sheet = load_workbook(path).worksheets[0]

    assert [(c.value, c.data_type, c.number_format) for c in sheet[2][1:]] == [
        ("=1+1", "s", "@"),
        ("0001", "s", "@"),
    ]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:C2"


def test_an_existing_file_is_refused_and_kept_unless_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("earlier\n", encoding="utf-8")

    with pytest.raises(UsageError, match="already exists"):
        WideManifest(path, overwrite=False)
    writer = WideManifest(path, overwrite=True)
    writer.add(A, {"name": "a"})
    writer.discard()

    assert path.read_text(encoding="utf-8") == "earlier\n"


@pytest.mark.parametrize("name", ["out.json", "out", "out.xls"])
def test_an_unknown_extension_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match=r"unknown extension .*use one of \.csv, \.tsv, \.xlsx"):
        WideManifest(tmp_path / name, overwrite=False)
