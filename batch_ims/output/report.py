"""The per-image report, streamed as images finish: .csv, .jsonl or .xlsx by extension.

CSV and XLSX cells that a spreadsheet would run as a formula (leading `=`, `+`, `-`,
`@`, tab or carriage return) are neutralised with a leading apostrophe, as OWASP's
CSV injection guidance advises; the .jsonl report keeps the raw text.
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path
from typing import IO, Any, Protocol

from batch_ims.errors import UsageError
from batch_ims.models import Outcome, ops_json

COLUMNS = (
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
)
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = (".csv", ".jsonl", ".xlsx")


def neutralise(cell: str) -> str:
    """Make a cell inert for spreadsheets (OWASP CSV injection)."""
    if cell and cell.startswith(_FORMULA_TRIGGERS):
        return "'" + cell
    return cell


def report_row(outcome: Outcome) -> dict[str, Any]:
    return {
        "image_id": outcome.image_id,
        "status": outcome.status.value,
        "http_status": outcome.http_status,
        "error_code": outcome.error_code,
        "error_message": outcome.error_message,
        "attempts": outcome.attempts,
        "rows": ";".join(str(r) for r in outcome.rows),
        "ops": ops_json(outcome.ops),
        "request_id": outcome.request_id,
        "duration_ms": outcome.duration_ms,
        "finished_at": outcome.finished_at,
        "note": outcome.note,
    }


def _text_cells(outcome: Outcome) -> list[str]:
    """The row as spreadsheet-safe text cells, in COLUMNS order."""
    return [
        neutralise(outcome.image_id),
        outcome.status.value,
        "" if outcome.http_status is None else str(outcome.http_status),
        neutralise(outcome.error_code),
        neutralise(outcome.error_message),
        str(outcome.attempts),
        ";".join(map(str, outcome.rows)),
        neutralise(ops_json(outcome.ops)),
        neutralise(outcome.request_id),
        str(outcome.duration_ms),
        outcome.finished_at,
        neutralise(outcome.note),
    ]


class ReportWriter(Protocol):
    path: Path

    def write(self, outcome: Outcome) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class _CsvReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = path.open("w", encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)

    def write(self, outcome: Outcome) -> None:
        self._writer.writerow(_text_cells(outcome))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class _JsonlReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = path.open("w", encoding="utf-8")

    def write(self, outcome: Outcome) -> None:
        row = report_row(outcome)
        row["ops"] = [op.as_json() for op in outcome.ops]
        row["rows"] = list(outcome.rows)
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class _XlsxReport:
    """openpyxl's write-only mode streams rows to a temporary file until close."""

    def __init__(self, path: Path) -> None:
        from openpyxl import Workbook

        self.path = path
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet("report")
        self._sheet.append(list(COLUMNS))
        path.touch()

    def write(self, outcome: Outcome) -> None:
        self._sheet.append(_text_cells(outcome))

    def flush(self) -> None:
        """An xlsx can only be written whole, at close."""

    def close(self) -> None:
        self._book.save(str(self.path))


def check_report_path(path: Path) -> None:
    """Refuse a report path whose extension names no format, or that is a folder."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(
            f"report {str(path)!r}: unknown extension {suffix or '(none)'!r}; "
            f"use one of {', '.join(FORMATS)}"
        )
    if path.is_dir():
        raise UsageError(f"report {str(path)!r} is a folder; give a file name")


def open_report(path: Path) -> ReportWriter:
    """Create the report at `path` (its format from the extension), folders included."""
    check_report_path(path)
    suffix = path.suffix.lower()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            return _CsvReport(path)
        if suffix == ".jsonl":
            return _JsonlReport(path)
        return _XlsxReport(path)
    except OSError as exc:
        raise UsageError(f"report {str(path)!r}: cannot write: {exc.strerror}") from exc


def read_report_statuses(path: Path) -> dict[str, str]:
    """image_id -> status from an earlier report (.csv or .jsonl), for --retry-failed-from."""
    suffix = path.suffix.lower()
    statuses: dict[str, str] = {}
    try:
        if suffix == ".jsonl":
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        row = json.loads(line)
                        statuses[str(row["image_id"])] = str(row["status"])
        elif suffix == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as handle:
                for rec in csv.DictReader(handle):
                    statuses[rec["image_id"].lstrip("'")] = rec["status"]
        elif suffix == ".xlsx":
            from openpyxl import load_workbook

            book = load_workbook(str(path), read_only=True)
            rows = book.worksheets[0].iter_rows(values_only=True)
            header = [str(c) for c in next(rows)]
            id_col, status_col = header.index("image_id"), header.index("status")
            for values in rows:
                statuses[str(values[id_col]).lstrip("'")] = str(values[status_col])
        else:
            raise UsageError(f"report {str(path)!r}: unknown extension; use .csv, .jsonl or .xlsx")
    except (
        OSError,
        KeyError,
        ValueError,
        TypeError,
        IndexError,
        AttributeError,
        StopIteration,
        zipfile.BadZipFile,
    ) as exc:
        raise UsageError(
            f"report {str(path)!r}: cannot read it as a batch-ims report ({exc})"
        ) from exc
    return statuses
