"""XLSX -> Table with openpyxl (read-only, cached formula values).

Cell rules: text stays text; an integral number is written without a decimal point (1024,
not 1024.0), any other number in its shortest form; booleans become "true"/"false"; formulas
give their cached value, and a formula with none (never calculated: a workbook saved by a
program, not by Excel) stops the file naming the cell; dates become ISO 8601 text, except in
the image_id column, where a date means Excel converted an id and the row is invalid. An
Excel error value (#N/A, #REF!, ...) makes its row invalid. Hidden rows (an Excel filter, or
hidden by hand) are read and marked (`Table.hidden`): what becomes of them is the caller's
choice. The first visible sheet is read unless `sheet` names one (hidden sheets included).

Bounds, checked from the zip directory before openpyxl opens anything: at most
MAX_MEMBERS members, MAX_UNCOMPRESSED bytes once uncompressed, and no member above 1 MiB
compressed more than MAX_RATIO times (a zip bomb). The sizes in the directory can be
trusted: Python's zipfile stops a member at its declared size and checks its CRC. While the
sheet is read (`sheetxml`): no cell beyond MAX_COLUMNS in any row, and at most MAX_CELLS
cells read in all (cell elements, rows, and the empty cells each row is padded with up to
the header's width). openpyxl parses the XML with defusedxml.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import numpy as np

from batch_ims.errors import ManifestError
from batch_ims.manifest.sheetxml import Budget, SheetRow, sheet_rows
from batch_ims.manifest.table import (
    INDEX,
    MAX_COLUMNS,
    Table,
    column_letter,
    header_key,
    object_array,
)

_ZIP: Final = b"PK\x03\x04"
_OLE2: Final = b"\xd0\xcf\x11\xe0"
_EXACT_FLOAT: Final = 2.0**53
MAX_UNCOMPRESSED: Final = 512 << 20  # bytes, all members together
MAX_RATIO: Final = 100  # uncompressed / compressed, for members above _RATIO_FLOOR
MAX_MEMBERS: Final = 10_000
MAX_CELLS: Final = 16_000_000  # cell elements, rows and padded cells read from the sheet
_RATIO_FLOOR: Final = 1 << 20
DATE_IN_ID: Final = (
    "a date, not an image id: Excel converted this cell; format the column as Text "
    "and paste the ids again"
)


def read_xlsx(path: str, *, sheet: str | None) -> Table:
    _check_signature(path)
    _check_archive(path)
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds on a broken archive
        raise ManifestError(path, f"not a readable .xlsx workbook ({_brief(error)})") from None
    try:
        worksheet = _pick_sheet(path, workbook.worksheets, sheet)
        with worksheet._get_source() as source:
            budget = Budget(path, MAX_CELLS)
            table = _build(path, _filled_rows(sheet_rows(path, source, worksheet, budget)), budget)
        return dataclasses.replace(table, source=(("sheet", worksheet.title),))
    except ManifestError:
        raise
    except Exception as error:
        raise ManifestError(path, f"cannot read the worksheet ({_brief(error)})") from None
    finally:
        workbook.close()


def _check_signature(path: str) -> None:
    try:
        with Path(path).open("rb") as stream:
            head = stream.read(8)
    except OSError as error:
        raise ManifestError(path, f"cannot read the file: {error.strerror or error}") from None
    if head.startswith(_OLE2):
        raise ManifestError(path, "an old binary Excel file (.xls); save it as .xlsx or CSV")
    if not head.startswith(_ZIP):
        raise ManifestError(
            path, "not an .xlsx workbook (not a zip archive); if it is CSV text, name it .csv"
        )


def _check_archive(path: str) -> None:
    """Refuse a workbook whose members would take too much memory, before opening it."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ManifestError(path, f"not a readable .xlsx workbook ({_brief(error)})") from None
    if len(members) > MAX_MEMBERS:
        raise ManifestError(
            path, f"the archive has {len(members)} members; at most {MAX_MEMBERS} are allowed"
        )
    total = sum(member.file_size for member in members)
    if total > MAX_UNCOMPRESSED:
        raise ManifestError(
            path,
            f"the workbook is {total} bytes uncompressed; at most {MAX_UNCOMPRESSED} bytes "
            "are allowed (split the manifest, or save it as CSV)",
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_FLOOR and ratio > MAX_RATIO:
            raise ManifestError(
                path,
                f"member {member.filename!r} expands {ratio:.0f} times ({member.file_size} "
                f"bytes); more than {MAX_RATIO} times is refused as a zip bomb",
            )


def _pick_sheet(path: str, sheets: list[Any], wanted: str | None) -> Any:
    if not sheets:
        raise ManifestError(path, "the workbook has no worksheets")
    if wanted is not None:
        for ws in sheets:
            if ws.title == wanted:
                return ws
        folded = [ws for ws in sheets if ws.title.casefold() == wanted.strip().casefold()]
        if len(folded) == 1:
            return folded[0]
        raise ManifestError(path, f"no sheet named {wanted!r}; sheets: {_names(sheets)}")
    for ws in sheets:
        if ws.sheet_state == "visible":
            return ws
    raise ManifestError(
        path, f"every sheet is hidden ({_names(sheets)}); choose one with --sheet NAME"
    )


def _names(sheets: list[Any]) -> str:
    return ", ".join(
        repr(ws.title) + ("" if ws.sheet_state == "visible" else " (hidden)") for ws in sheets
    )


def _filled_rows(rows: Iterable[SheetRow]) -> Iterator[SheetRow]:
    """The rows with at least one non-blank cell."""
    for row in rows:
        if any(_filled(cell["value"]) for cell in row.cells):
            yield row


def _filled(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _build(path: str, rows: Iterator[SheetRow], budget: Budget) -> Table:
    first = next(rows, None)
    if first is None:
        raise ManifestError(path, "the sheet is empty; expected a header row and data rows")
    header = [""] * max(cell["column"] for cell in first.cells)
    for cell in first.cells:
        header[cell["column"] - 1] = _text(cell["value"])
    while header and not header[-1].strip():
        header.pop()
    if len(header) > MAX_COLUMNS:
        raise ManifestError(
            path,
            f"the header has {len(header)} columns; at most {MAX_COLUMNS} are allowed",
            row=first.number,
        )
    id_column = next((i for i, h in enumerate(header) if header_key(h) == "image_id"), -1)
    width = len(header)
    columns: list[list[str]] = [[] for _ in range(width)]
    numbers: list[int] = []
    hidden: list[bool] = []
    notes: dict[tuple[int, int], str] = {}
    for row in rows:
        budget.spend(width, row=row.number)  # the cells this row is padded to
        index = len(numbers)
        numbers.append(row.number)
        hidden.append(row.hidden)
        texts = [""] * width
        for cell in row.cells:
            column = cell["column"] - 1
            text, note = _cell(cell, is_id=column == id_column)
            if column >= width:
                if text.strip():
                    raise ManifestError(
                        path,
                        "this cell has no column header; clear it or name its column",
                        row=row.number,
                        column=column_letter(column),
                    )
                continue
            texts[column] = text
            if note is not None:
                notes[(index, column)] = note
        for column, text in enumerate(texts):
            columns[column].append(text)
    return Table(
        header=tuple(header),
        header_row=first.number,
        columns=tuple(object_array(col) for col in columns),
        row_numbers=np.asarray(numbers, dtype=INDEX),
        notes=notes,
        hidden=np.asarray(hidden, dtype=bool) if any(hidden) else None,
    )


def _cell(cell: dict[str, Any], *, is_id: bool) -> tuple[str, str | None]:
    value = cell["value"]
    if cell["data_type"] == "e":
        return str(value), f"the cell holds the Excel error {value}; fix its formula or value"
    if is_id and isinstance(value, dt.date | dt.time | dt.timedelta):
        return _text(value), DATE_IN_ID
    return _text(value), None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _EXACT_FLOAT:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()  # Excel has no date type: a date is a midnight
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _brief(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__
