"""The per-image report: .csv, .jsonl or .xlsx by extension, in manifest order.

CSV and XLSX cells that a spreadsheet would run as a formula (leading `=`, `+`, `-`,
`@`, tab or carriage return) are neutralised with a leading apostrophe, as OWASP's
CSV injection guidance advises; the .jsonl report keeps the raw text.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import os
import tempfile
import zipfile
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from batch_ims.errors import UsageError
from batch_ims.formula import neutralise
from batch_ims.logsetup import redact_data, redact_text
from batch_ims.models import Outcome, Status, rows_text
from batch_ims.output.files import OutputFile, write_error
from batch_ims.output.sheet import XlsxSheet

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
    "target",
)
FORMATS = (".csv", ".jsonl", ".xlsx")
_NO_ROW = 2**62  # outcomes without a manifest row go last, in finishing order
_JSON = json.JSONEncoder(ensure_ascii=False)


def report_row(outcome: Outcome) -> dict[str, Any]:
    return {
        "image_id": outcome.image_id,
        "status": outcome.status.value,
        "http_status": outcome.http_status,
        "error_code": outcome.error_code,
        "error_message": outcome.error_message,
        "attempts": outcome.attempts,
        "rows": rows_text(outcome.rows),
        "ops": outcome.ops_shown(),
        "request_id": outcome.request_id,
        "duration_ms": outcome.duration_ms,
        "finished_at": outcome.finished_at,
        "note": outcome.note,
        "target": outcome.target,
    }


def _spooled(outcome: Outcome) -> dict[str, Any]:
    """The row as kept in the spool: the .jsonl form plus the ops as one text, redacted."""
    row = report_row(outcome)
    row["ops"] = [op.as_json() for op in outcome.ops]
    row["rows"] = list(outcome.rows)
    spooled: dict[str, Any] = redact_data({"row": row, "ops_text": outcome.ops_shown()})
    return spooled


def _text_cells(spooled: dict[str, Any]) -> list[str]:
    """The row as spreadsheet-safe text cells, in COLUMNS order."""
    row = spooled["row"]
    status = row["http_status"]
    return [
        neutralise(row["image_id"]),
        row["status"],
        "" if status is None else str(status),
        neutralise(row["error_code"]),
        neutralise(row["error_message"]),
        str(row["attempts"]),
        rows_text(row["rows"]),
        neutralise(spooled["ops_text"]),
        neutralise(row["request_id"]),
        str(row["duration_ms"]),
        row["finished_at"],
        neutralise(row["note"]),
        neutralise(row["target"]),
    ]


def _csv_cells(outcome: Outcome) -> list[str]:
    """`_text_cells` of the outcome's spooled row, straight from the outcome."""
    status = outcome.http_status
    return [
        neutralise(redact_text(outcome.image_id)),
        outcome.status.value,
        "" if status is None else str(status),
        neutralise(redact_text(outcome.error_code)),
        neutralise(redact_text(outcome.error_message)),
        str(outcome.attempts),
        rows_text(outcome.rows),
        neutralise(redact_text(outcome.ops_shown())),
        neutralise(redact_text(outcome.request_id)),
        str(outcome.duration_ms),
        redact_text(outcome.finished_at),
        neutralise(redact_text(outcome.note)),
        neutralise(redact_text(outcome.target)),
    ]


class CsvLines:
    """Rows as UTF-8 CSV (or, with a tab, TSV) lines; the header line starts with a BOM, so
    that Excel reads the text as UTF-8."""

    def __init__(self, delimiter: str = ",") -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, delimiter=delimiter)

    def cells(self, cells: Sequence[str]) -> bytes:
        self._writer.writerow(cells)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode("utf-8")

    def header(self, names: Sequence[str]) -> bytes:
        return codecs.BOM_UTF8 + self.cells(names)


class _CsvLines(CsvLines):
    """The spool holds each row as its final CSV line; the file is the header, then lines."""

    def line(self, outcome: Outcome) -> bytes:
        return self.cells(_csv_cells(outcome))

    def head(self) -> bytes:
        return self.header(COLUMNS)


class _JsonlLines:
    """The spool holds each row as its final JSON line; the file is the lines."""

    def line(self, outcome: Outcome) -> bytes:
        row = report_row(outcome)
        row["ops"] = [op.as_json() for op in outcome.ops]
        row["rows"] = list(outcome.rows)
        return (_JSON.encode(redact_data(row)) + "\n").encode("utf-8")

    def head(self) -> bytes:
        return b""


_NUMBER_COLUMNS = frozenset({"http_status", "attempts", "duration_ms"})
_WIDTHS = {
    "image_id": 38,
    "status": 11,
    "http_status": 12,
    "error_code": 16,
    "error_message": 48,
    "attempts": 10,
    "rows": 10,
    "ops": 60,
    "request_id": 34,
    "duration_ms": 13,
    "finished_at": 25,
    "note": 40,
    "target": 40,
}
_FAILURES = frozenset({"failed", "aborted", "invalid", "drifted"})


class _Xlsx:
    """The report's sheet: numbers as numbers, failures filled red."""

    def __init__(self, out: OutputFile) -> None:
        self._sheet = XlsxSheet(out, "report", COLUMNS, [_WIDTHS[name] for name in COLUMNS])

    def row(self, spooled: dict[str, Any]) -> None:
        values: list[Any] = _text_cells(spooled)
        for index, name in enumerate(COLUMNS):
            if name in _NUMBER_COLUMNS:
                values[index] = int(values[index]) if values[index] else None
        self._sheet.append(values, fill=spooled["row"]["status"] in _FAILURES)

    def finish(self) -> None:
        self._sheet.finish()


class Report:
    """Rows spooled as images finish; the report written at close in manifest order.

    The spool is an unnamed temporary file in the report's folder; memory holds two
    integers per image (its first manifest row and its place in the spool). For .csv and
    .jsonl the spool holds each row's final line, so closing only copies lines in order;
    for .xlsx it holds the row as JSON, made into cells at close. The final file
    is written to a temporary file and renamed over the report (`OutputFile`), so the report
    is whole or, until the end, the earlier one.
    """

    label = "report"

    def __init__(self, path: Path, *, overwrite: bool) -> None:
        check_report_path(path)
        self.path = path
        self._out = OutputFile(self.label, path, overwrite=overwrite)
        try:
            self._spool: IO[bytes] = tempfile.TemporaryFile(dir=path.parent)  # noqa: SIM115
        except OSError as exc:
            self._out.discard()
            raise UsageError(f"report {str(path)!r}: cannot write: {exc.strerror}") from exc
        self._keys = array("q")
        self._offsets = array("q")
        self._size = 0
        suffix = path.suffix.lower()
        self._lines = (
            _CsvLines() if suffix == ".csv" else _JsonlLines() if suffix == ".jsonl" else None
        )

    def write(self, outcome: Outcome) -> None:
        if self._lines is not None:
            line = self._lines.line(outcome)
        else:
            line = (_JSON.encode(_spooled(outcome)) + "\n").encode("utf-8")
        self._keys.append(min(outcome.rows) if outcome.rows else _NO_ROW)
        self._offsets.append(self._size)
        self._spool.write(line)
        self._size += len(line)

    def flush(self) -> None:
        self._spool.flush()

    def close(self) -> None:
        """Write the report in the order of each image's first manifest row, then commit."""
        try:
            self._spool.flush()
            if self._lines is not None:
                self._copy_lines(self._lines.head())
            else:
                writer = _Xlsx(self._out)
                keys, offsets = self._keys, self._offsets
                for index in _order(keys):
                    self._spool.seek(offsets[index])
                    writer.row(json.loads(self._spool.readline()))
                writer.finish()
        except OSError as exc:
            self.discard()
            raise write_error(self.label, self.path, exc) from exc
        except BaseException:
            self.discard()
            raise
        self._spool.close()
        self._out.commit()

    def _copy_lines(self, head: bytes) -> None:
        """`head`, then the spooled lines in the order of their first manifest row."""
        keys, offsets = self._keys, self._offsets
        offsets.append(self._size)  # line i ends where line i + 1 starts
        out = self._out.file
        out.write(head)
        fd = self._spool.fileno()
        for index in _order(keys):
            start = offsets[index]
            out.write(os.pread(fd, offsets[index + 1] - start, start))
        out.flush()

    def discard(self) -> None:
        """Leave the earlier report, if any, as it was."""
        with contextlib.suppress(OSError):
            self._spool.close()
        self._out.discard()


def check_report_path(path: Path) -> None:
    """Refuse a report path whose extension names no format, or that is a folder."""
    check_format("report", path, FORMATS)


def check_format(label: str, path: Path, formats: Iterable[str]) -> None:
    """Refuse an output path whose extension is none of `formats`, or that is a folder."""
    suffix = path.suffix.lower()
    if suffix not in formats:
        raise UsageError(
            f"{label} {str(path)!r}: unknown extension {suffix or '(none)'!r}; "
            f"use one of {', '.join(formats)}"
        )
    if path.is_dir():
        raise UsageError(f"{label} {str(path)!r} is a folder; give a file name")


def open_report(path: Path, *, overwrite: bool) -> Report:
    """The report at `path` (its format from the extension), folders included."""
    return Report(path, overwrite=overwrite)


def _note_status(statuses: dict[str, str], image_id: str, status: str) -> None:
    """The image's status; a `skipped` row (its hidden rows, left out) never hides the
    status of the row its other rows were sent in."""
    if status != Status.SKIPPED.value or image_id not in statuses:
        statuses[image_id] = status


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
                        _note_status(statuses, str(row["image_id"]), str(row["status"]))
        elif suffix == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as handle:
                for rec in csv.DictReader(handle):
                    _note_status(statuses, rec["image_id"].lstrip("'"), rec["status"])
        elif suffix == ".xlsx":
            from openpyxl import load_workbook

            book = load_workbook(str(path), read_only=True)
            rows = book.worksheets[0].iter_rows(values_only=True)
            header = [str(c) for c in next(rows)]
            id_col, status_col = header.index("image_id"), header.index("status")
            for values in rows:
                _note_status(statuses, str(values[id_col]).lstrip("'"), str(values[status_col]))
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


def _order(keys: array[int]) -> Iterator[int]:
    """Indexes of `keys` in ascending order, ties in arrival order: 8 bytes an image at the
    end of a run (numpy is loaded already, with the manifest), not a list of Python ints."""
    import numpy as np

    order = np.argsort(np.frombuffer(keys, dtype=np.int64), kind="stable")
    return (int(index) for index in order)
