"""Reading .xlsx manifests: cell types as text, cached formulas, dates, sheets, bad workbooks."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from batch_ims.clouds.huawei.rules import IMS
from batch_ims.errors import ManifestError
from batch_ims.manifest import load_manifest
from batch_ims.models import Op
from tests.handmade import handmade_xlsx

A = "3f1c2a9e-5b7d-4c1e-9a2b-0c4d6e8f1a2b"
B = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def workbook(path: Path, sheets: dict[str, Any], hidden: tuple[str, ...] = ()) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        if title in hidden:
            sheet.sheet_state = "hidden"
    book.save(path)
    return path


def error_of(path: Path, **options: str) -> str:
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, rules=IMS, **options)
    return str(caught.value)


def test_number_bool_and_text_cells_become_the_text_a_user_sees(tmp_path: Path) -> None:
    rows = [
        ["image_id", "min_ram", "__support_kvm", "ratio", "big", "code", "name"],
        [A, 1024, True, 1.5, 4096.0, "0001", 12345678901],
    ]
    manifest = load_manifest(workbook(tmp_path / "w.xlsx", {"Data": rows}), rules=IMS)
    assert manifest.layout == "wide"
    assert manifest.tasks[0].ops == (
        Op("add", "/min_ram", "1024"),
        Op("add", "/__support_kvm", "true"),
        Op("add", "/ratio", "1.5"),
        Op("add", "/big", "4096"),
        Op("add", "/code", "0001"),
        Op("add", "/name", "12345678901"),
    )


def test_date_in_the_image_id_column_is_an_invalid_row_saying_excel_converted_it(
    tmp_path: Path,
) -> None:
    rows = [["image_id", "name"], [dt.datetime(2024, 5, 6), "x"], [A, "y"]]
    manifest = load_manifest(workbook(tmp_path / "w.xlsx", {"S": rows}), rules=IMS)
    assert [t.image_id for t in manifest.tasks] == [A]
    (item,) = manifest.invalid
    (error,) = item.errors
    assert (error.row, error.column, error.value) == (2, "image_id", "2024-05-06")
    assert error.message.startswith("a date, not an image id: Excel converted this cell")


def test_date_elsewhere_becomes_iso_text(tmp_path: Path) -> None:
    rows = [["image_id", "built", "at"], [A, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5)]]
    manifest = load_manifest(workbook(tmp_path / "w.xlsx", {"S": rows}), rules=IMS)
    assert [op.value for op in manifest.tasks[0].ops] == ["2024-01-02", "2024-01-02T03:04:05"]


def test_first_visible_sheet_is_read_and_hidden_ones_only_by_name(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "w.xlsx",
        {"Old": [["image_id", "name"], [A, "old"]], "New": [["image_id", "name"], [A, "new"]]},
        hidden=("Old",),
    )
    assert load_manifest(path, rules=IMS).tasks[0].ops == (Op("add", "/name", "new"),)
    assert load_manifest(path, sheet="Old", rules=IMS).tasks[0].ops == (Op("add", "/name", "old"),)
    assert load_manifest(path, sheet="old", rules=IMS).tasks[0].ops == (Op("add", "/name", "old"),)


def test_unknown_sheet_lists_the_sheets_marking_hidden_ones(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"Old": [["image_id"]], "New": [["image_id"]]}, ("Old",))
    assert error_of(path, sheet="Nope").endswith(
        "no sheet named 'Nope'; sheets: 'Old' (hidden), 'New'"
    )


def test_workbook_whose_sheets_are_all_hidden_needs_a_sheet_name(tmp_path: Path) -> None:
    row2 = f'<c r="A2" t="inlineStr"><is><t>{A}</t></is></c><c r="B2"><v>1</v></c>'
    path = _hand_built_xlsx(tmp_path / "w.xlsx", ["image_id", "min_ram"], row2, state="hidden")
    assert "every sheet is hidden ('S' (hidden)); choose one with --sheet NAME" in error_of(path)
    assert load_manifest(path, sheet="S", rules=IMS).tasks[0].ops == (Op("add", "/min_ram", "1"),)


def test_empty_sheet_and_header_only_sheet_are_refused(tmp_path: Path) -> None:
    assert "the sheet is empty" in error_of(workbook(tmp_path / "a.xlsx", {"S": []}))
    header_only = workbook(tmp_path / "b.xlsx", {"S": [["image_id", "name"]]})
    assert "no data rows" in error_of(header_only)


def test_header_below_title_rows_keeps_sheet_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "w.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["A3"], sheet["B3"] = "image_id", "name"
    sheet["A5"], sheet["B5"] = A, "n"
    book.save(path)
    assert load_manifest(path, rules=IMS).tasks[0].rows == (5,)


def test_cell_beyond_the_last_header_is_named_by_row_and_column(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"S": [["image_id", "name"], [A, "n", "stray"]]})
    assert "w.xlsx, row 2, column 'C': this cell has no column header" in error_of(path)


def test_excel_error_value_makes_its_row_invalid(tmp_path: Path) -> None:
    path = workbook(tmp_path / "w.xlsx", {"S": [["image_id", "name"], [A, "#N/A"], [B, "ok"]]})
    manifest = load_manifest(path, rules=IMS)
    assert [t.image_id for t in manifest.tasks] == [B]
    assert manifest.invalid[0].errors[0].message.startswith("the cell holds the Excel error #N/A")


def test_formula_reads_its_cached_value_and_an_empty_text_result_is_an_empty_cell(
    tmp_path: Path,
) -> None:
    cells = (
        f'<c r="A2" t="inlineStr"><is><t>{A}</t></is></c>'
        '<c r="B2"><f>1000+24</f><v>1024</v></c>'
        '<c r="C2" t="str"><f>CONCAT("镜像","-01")</f><v>镜像-01</v></c>'
        '<c r="D2" t="str"><f>IF(1,"")</f><v></v></c>'
    )
    header = ["image_id", "min_ram", "name", "__description"]
    path = _hand_built_xlsx(tmp_path / "f.xlsx", header, cells)
    assert load_manifest(path, rules=IMS).tasks[0].ops == (
        Op("add", "/min_ram", "1024"),
        Op("add", "/name", "镜像-01"),
    )


def test_formula_never_calculated_stops_the_file_naming_the_cell(tmp_path: Path) -> None:
    # openpyxl stores formulas without a cached value, as a never-opened generated file would.
    rows = [["image_id", "name", "__description"], [A, "web-01", "生产环境 Web 镜像"]]
    rows.append([B, '="镜像-"&"测试"', "测试"])
    path = workbook(tmp_path / "w.xlsx", {"S": rows})
    error = error_of(path)
    assert "w.xlsx, row 3, column 'B': a formula that was never calculated" in error
    assert "open and save it in Excel" in error


def test_formula_without_any_value_element_stops_the_file(tmp_path: Path) -> None:
    cells = f'<c r="A2" t="inlineStr"><is><t>{A}</t></is></c><c r="C2"><f>1000+24</f></c>'
    path = _hand_built_xlsx(tmp_path / "f.xlsx", ["image_id", "name", "min_ram"], cells)
    assert "f.xlsx, row 2, column 'C': a formula that was never calculated" in error_of(path)


def test_zip_missing_workbook_parts_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
    assert "not a readable .xlsx workbook" in error_of(path)


def test_old_xls_file_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "w.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100))
    assert "old binary Excel file (.xls); save it as .xlsx or CSV" in error_of(path)


def test_long_layout_workbook_is_read_like_a_csv(tmp_path: Path) -> None:
    rows = [
        ["image_id", "op", "path", "value"],
        [A, "replace", "/min_ram", 2048],
        [A, "remove", "tag", None],
    ]
    manifest = load_manifest(workbook(tmp_path / "w.xlsx", {"S": rows}), rules=IMS)
    assert manifest.layout == "long"
    assert manifest.tasks[0].ops == (Op("replace", "/min_ram", "2048"), Op("remove", "/tag"))


def _hand_built_xlsx(path: Path, header: list[str], row2: str, state: str = "visible") -> Path:
    """A minimal workbook written by hand, so formula cells can carry cached values."""
    head = "".join(
        f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{h}</t></is></c>' for i, h in enumerate(header)
    )
    return handmade_xlsx(path, f'<row r="1">{head}</row><row r="2">{row2}</row>', state=state)
