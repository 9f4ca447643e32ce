"""batch_ims.output.report: column order, formula neutralisation, reading reports back."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from batch_ims.errors import UsageError
from batch_ims.models import Op, Outcome, Status
from batch_ims.output.report import COLUMNS, open_report, read_report_statuses

UUID_A = "4f5a3d2e-1b0c-4a9e-8d7f-6c5b4a392817"
UUID_B = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
UUID_C = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"
HOSTILE = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def _outcome(image_id: str, status: Status, *, error_message: str = "", note: str = "") -> Outcome:
    return Outcome(
        image_id=image_id,
        status=status,
        rows=(2, 5),
        ops=(Op("replace", "/name", "web-01"), Op("remove", "/__os_bit")),
        http_status=200 if status is Status.SUCCEEDED else 404,
        attempts=1,
        request_id="req-1",
        duration_ms=12,
        finished_at="2024-03-15T08:15:00.00Z",
        error_message=error_message,
        note=note,
    )


def _write(path: Path, outcomes: list[Outcome]) -> None:
    report = open_report(path, overwrite=True)
    for outcome in outcomes:
        report.write(outcome)
    report.close()


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def _xlsx_rows(path: Path) -> list[list[str | None]]:
    book = load_workbook(str(path))
    rows = [[cell.value for cell in row] for row in book.worksheets[0].iter_rows()]
    book.close()
    return rows


def test_csv_columns_are_exactly_columns_in_order(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"

    _write(path, [_outcome(UUID_A, Status.SUCCEEDED, note="ok")])

    header, row = _csv_rows(path)
    assert header == list(COLUMNS)
    assert row == [
        UUID_A,
        "succeeded",
        "200",
        "",
        "",
        "1",
        "2;5",
        '[{"op":"replace","path":"/name","value":"web-01"},{"op":"remove","path":"/__os_bit"}]',
        "req-1",
        "12",
        "2024-03-15T08:15:00.00Z",
        "ok",
        "",
    ]


def test_csv_report_starts_with_a_utf8_bom_for_excel(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"

    _write(path, [])

    assert path.read_bytes().startswith(b"\xef\xbb\xbfimage_id,status,")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_csv_neutralises_formula_cells(tmp_path: Path, hostile: str) -> None:
    path = tmp_path / "report.csv"
    outcome = _outcome(hostile, Status.INVALID, error_message=hostile, note=hostile)

    _write(path, [outcome])

    row = dict(zip(COLUMNS, _csv_rows(path)[1], strict=True))
    expected = "'" + hostile
    assert (row["image_id"], row["error_message"], row["note"]) == (expected, expected, expected)


def test_csv_leaves_harmless_cells_alone(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"

    _write(path, [_outcome(UUID_A, Status.FAILED, error_message="image 'x' = gone -1")])

    row = dict(zip(COLUMNS, _csv_rows(path)[1], strict=True))
    assert row["error_message"] == "image 'x' = gone -1"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_xlsx_neutralises_formula_cells(tmp_path: Path, hostile: str) -> None:
    path = tmp_path / "report.xlsx"

    _write(path, [_outcome(UUID_A, Status.FAILED, error_message=hostile, note=hostile)])

    header, row = _xlsx_rows(path)
    cells = dict(zip(header, row, strict=True))
    for column in ("error_message", "note"):
        value = cells[column]
        assert isinstance(value, str)
        assert value.startswith("'")
        assert value[1:].replace("\n", "\r") == hostile.replace("\n", "\r")


def test_xlsx_columns_are_exactly_columns_in_order_with_numbers_as_numbers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "report.xlsx"

    _write(path, [_outcome(UUID_A, Status.SUCCEEDED)])

    header, row = _xlsx_rows(path)
    assert header == list(COLUMNS)
    assert row[:3] == [UUID_A, "succeeded", 200]
    assert isinstance(row[COLUMNS.index("attempts")], int)
    assert isinstance(row[COLUMNS.index("duration_ms")], int)


def test_jsonl_keeps_raw_text(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    outcomes = [_outcome(UUID_A, Status.FAILED, error_message=h, note=h) for h in HOSTILE]

    _write(path, outcomes)

    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["error_message"], r["note"]) for r in lines] == [(h, h) for h in HOSTILE]


def test_jsonl_rows_and_ops_are_structured(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"

    _write(path, [_outcome(UUID_A, Status.SUCCEEDED)])

    row = json.loads(path.read_text(encoding="utf-8"))
    assert list(row) == list(COLUMNS)
    assert row["rows"] == [2, 5]
    assert row["ops"] == [
        {"op": "replace", "path": "/name", "value": "web-01"},
        {"op": "remove", "path": "/__os_bit"},
    ]
    assert row["http_status"] == 200


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".xlsx"])
def test_read_report_statuses_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"earlier{suffix}"
    written = {
        UUID_A: Status.SUCCEEDED,
        UUID_B: Status.FAILED,
        UUID_C: Status.ABORTED,
        "=not-a-uuid": Status.INVALID,
    }

    _write(path, [_outcome(image_id, status) for image_id, status in written.items()])

    assert read_report_statuses(path) == {k: v.value for k, v in written.items()}


def test_report_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "out" / "2024" / "report.csv"

    _write(path, [])

    assert path.is_file()


@pytest.mark.parametrize("name", ["report.txt", "report", "report.xls"])
def test_open_report_with_unknown_extension_is_a_usage_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="unknown extension"):
        open_report(tmp_path / name, overwrite=False)


def test_read_report_with_unknown_extension_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "earlier.txt"
    path.write_text("image_id,status\n", encoding="utf-8")

    with pytest.raises(UsageError, match="unknown extension"):
        read_report_statuses(path)


def test_read_missing_report_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"missing\.csv"):
        read_report_statuses(tmp_path / "missing.csv")


def test_read_csv_without_status_column_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("image_id,name\nabc,x\n", encoding="utf-8")

    with pytest.raises(UsageError, match="batch-ims report"):
        read_report_statuses(path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".xlsx"])
def test_rows_come_in_manifest_order_whatever_order_images_finished_in(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"report{suffix}"
    outcomes = [
        _outcome(image_id, Status.FAILED, error_message='line 1\nline "2", ok')
        for image_id in (UUID_C, UUID_A, UUID_B)
    ]
    rows = {UUID_A: (2,), UUID_B: (3, 9), UUID_C: (7,)}
    outcomes = [dataclasses.replace(o, rows=rows[o.image_id]) for o in outcomes]

    _write(path, outcomes)

    if suffix == ".csv":
        body = _csv_rows(path)[1:]
        assert [(r[0], r[4], r[6]) for r in body] == [
            (UUID_A, 'line 1\nline "2", ok', "2"),
            (UUID_B, 'line 1\nline "2", ok', "3;9"),
            (UUID_C, 'line 1\nline "2", ok', "7"),
        ]
    elif suffix == ".jsonl":
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert [(line["image_id"], line["rows"]) for line in lines] == [
            (UUID_A, [2]),
            (UUID_B, [3, 9]),
            (UUID_C, [7]),
        ]
    else:
        assert [r[0] for r in _xlsx_rows(path)[1:]] == [UUID_A, UUID_B, UUID_C]


def test_a_skipped_hidden_row_of_an_image_does_not_hide_its_failed_row(
    tmp_path: Path,
) -> None:
    report = tmp_path / "earlier.csv"
    report.write_text(
        "image_id,status,rows,note\n"
        f"{UUID_A},failed,2,\n"
        f"{UUID_A},skipped,5,hidden in the workbook: not sent\n"
        f"{UUID_B},skipped,3,hidden in the workbook: not sent\n",
        encoding="utf-8",
    )
    assert read_report_statuses(report) == {UUID_A: "failed", UUID_B: "skipped"}
