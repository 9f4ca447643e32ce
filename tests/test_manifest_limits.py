"""Excel's `sep=` line, and the bounds that stop a hostile file before it is parsed."""

from __future__ import annotations

import codecs
import uuid
import zipfile
from pathlib import Path

import openpyxl
import pytest

from batch_ims.clouds.huawei.rules import IMS
from batch_ims.errors import ManifestError
from batch_ims.manifest import load_manifest, xlsx
from batch_ims.manifest.table import MAX_COLUMNS
from batch_ims.models import Op
from tests.handmade import handmade_xlsx

A = "3f1c2a9e-5b7d-4c1e-9a2b-0c4d6e8f1a2b"
B = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _error(path: Path) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, rules=IMS)
    return caught.value


# ---- sep= -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_line", "delimiter"),
    [
        ("sep=;", ";"),
        ('"sep=;"', ";"),
        ("SEP=,", ","),
        ("sep=\t", "\t"),
        ("sep=\\t", "\t"),
        ("sep=|", "|"),
    ],
)
def test_sep_line_declares_the_delimiter_and_is_skipped(
    tmp_path: Path, first_line: str, delimiter: str
) -> None:
    d = delimiter
    text = f'{first_line}\r\nimage_id{d}name{d}__description\r\n{A}{d}web{d}"a, b; c"\r\n'
    path = tmp_path / "m.csv"
    path.write_text(text, encoding="utf-8")
    manifest = load_manifest(path, rules=IMS)
    assert manifest.tasks[0].ops == (
        Op("add", "/name", "web"),
        Op("add", "/__description", "a, b; c"),
    )
    assert manifest.tasks[0].rows == (2,)  # the header is row 1, as Excel shows it


def test_sep_line_after_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(codecs.BOM_UTF8 + f"sep=;\nimage_id;name\n{A};web\n".encode())
    assert load_manifest(path, rules=IMS).tasks[0].ops == (Op("add", "/name", "web"),)


def test_rows_after_a_sep_line_are_numbered_as_excel_shows_them(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(f"sep=;\nimage_id;name\n{A};web\n{B};db;extra;more\n", encoding="utf-8")
    error = _error(path)
    assert error.row == 3
    assert "this row has 4 cells, more than the header's 2 columns" in error.problem


def test_invalid_rows_after_a_sep_line_are_numbered_as_excel_shows_them(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(f"sep=;\nimage_id;min_ram\n{A};1024\n{B};lots\n", encoding="utf-8")
    manifest = load_manifest(path, rules=IMS)
    assert [(i.image_id, i.rows) for i in manifest.invalid] == [(B, (3,))]
    assert [e.row for e in manifest.invalid[0].errors] == [3]


# ---- columns --------------------------------------------------------------------------------


def test_csv_with_too_many_columns_is_refused_giving_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    header = ",".join(["image_id", *(f"c{i}" for i in range(100_000))])
    path.write_text(header + "\n" + A + "," * 100_000 + "\n", encoding="utf-8")
    error = _error(path)
    assert error.row == 1
    assert f"the header has 100001 columns; at most {MAX_COLUMNS} are allowed" in error.problem


def test_csv_at_the_column_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    names = [f"c{i}" for i in range(MAX_COLUMNS - 1)]
    path.write_text(",".join(["image_id", *names]) + "\n" + A + ",x" * len(names) + "\n")
    assert len(load_manifest(path, rules=IMS).tasks[0].ops) == MAX_COLUMNS - 1


def test_xlsx_with_too_many_columns_is_refused_giving_the_limit(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["image_id", *(f"c{i}" for i in range(MAX_COLUMNS + 5))])
    sheet.append([A, "x"])
    path = tmp_path / "wide.xlsx"
    book.save(path)
    error = _error(path)
    assert error.row == 1
    assert f"at most {MAX_COLUMNS} are allowed" in error.problem


def _inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def _padded_rows(path: Path, rows: int, *, pad: str) -> Path:
    """Every data row carries an empty cell at column `pad` (the header does not)."""
    header = f'<row r="1">{_inline("A1", "image_id")}{_inline("B1", "__description")}</row>'
    body = "".join(
        f'<row r="{n}">{_inline(f"A{n}", str(uuid.UUID(int=n)))}'
        f'{_inline(f"B{n}", f"生产环境 Web 镜像 {n}")}<c r="{pad}{n}"/></row>'
        for n in range(2, rows + 2)
    )
    return handmade_xlsx(path, header + body)


@pytest.fixture
def cells_decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the cells openpyxl decodes, to prove a refusal came before the work."""
    from openpyxl.worksheet._reader import WorkSheetParser

    calls: list[int] = []
    original = WorkSheetParser.parse_cell

    def counted(self: WorkSheetParser, element: object) -> object:
        calls.append(1)
        return original(self, element)

    monkeypatch.setattr(WorkSheetParser, "parse_cell", counted)
    return calls


def test_xlsx_cell_past_the_column_limit_in_any_row_stops_the_file_at_that_row(
    tmp_path: Path, cells_decoded: list[int]
) -> None:
    path = _padded_rows(tmp_path / "padded.xlsx", 5_000, pad="ZZZ")
    error = _error(path)
    assert (error.row, error.column) == (2, "ZZZ")
    assert f"at most {MAX_COLUMNS} are allowed (A to ALL)" in error.problem
    assert len(cells_decoded) == 2  # the header's; no data row was built


def test_xlsx_empty_cells_far_right_within_the_limit_are_not_padded_into_every_row(
    tmp_path: Path, cells_decoded: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx, "MAX_CELLS", 10 * 200)  # padded to column ALL: 1,000 a row
    path = _padded_rows(tmp_path / "padded.xlsx", 200, pad="ALL")
    manifest = load_manifest(path, rules=IMS)
    assert (manifest.row_count, manifest.image_count) == (200, 200)
    assert manifest.tasks[0].ops == (Op("add", "/__description", "生产环境 Web 镜像 2"),)


def test_xlsx_with_more_cells_than_the_limit_is_refused_as_soon_as_it_is_reached(
    tmp_path: Path, cells_decoded: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx, "MAX_CELLS", 100)
    path = _padded_rows(tmp_path / "many.xlsx", 5_000, pad="C")
    error = _error(path)
    assert "more than 100 cells (rows x columns)" in error.problem
    assert "at most 100 cells are read" in error.problem
    assert error.row is not None
    assert error.row < 30
    assert len(cells_decoded) < 100


# ---- xlsx archive bounds --------------------------------------------------------------------


def _workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    book.active.append(["image_id", "name"])
    book.active.append([A, "web"])
    book.save(path)
    return path


def _with_member(path: Path, name: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return path


def test_xlsx_zip_bomb_member_is_refused_before_openpyxl_opens_it(tmp_path: Path) -> None:
    path = _with_member(_workbook(tmp_path / "bomb.xlsx"), "xl/media/pad.bin", bytes(8 << 20))
    opened: list[str] = []
    original = openpyxl.load_workbook
    try:
        openpyxl.load_workbook = lambda *a, **k: opened.append("x")  # type: ignore[assignment]
        error = _error(path)
    finally:
        openpyxl.load_workbook = original
    assert opened == []
    assert "xl/media/pad.bin" in error.problem
    assert f"more than {xlsx.MAX_RATIO}" in error.problem


def test_xlsx_larger_than_the_limit_uncompressed_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx, "MAX_UNCOMPRESSED", 4096)
    path = _workbook(tmp_path / "big.xlsx")
    error = _error(path)
    assert "uncompressed; at most 4096 bytes are allowed" in error.problem


def test_ordinary_workbook_passes_the_archive_checks(tmp_path: Path) -> None:
    manifest = load_manifest(_workbook(tmp_path / "ok.xlsx"), rules=IMS)
    assert manifest.tasks[0].ops == (Op("add", "/name", "web"),)


def test_openpyxl_parses_workbooks_with_defusedxml() -> None:
    from openpyxl.xml import DEFUSEDXML

    assert DEFUSEDXML is True
