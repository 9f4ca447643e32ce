"""An .xlsx worksheet's rows, streamed from its XML and bounded before anything is built.

openpyxl's read-only worksheet pads every row with empty cells up to the sheet's last
column, so one empty cell at column ZZZ costs 18,278 cells in every row; and it drops two
things a manifest reader must see: a row's `hidden` attribute (rows an Excel filter hides,
or hidden by hand) and a formula without a cached value (a workbook saved by a program and
never calculated in Excel, which reads as an empty cell).

Here the worksheet XML is read element by element (openpyxl's defusedxml `iterparse`):

- every `<c>` element is checked as the parser meets it, before its row is built: a cell
  beyond column MAX_COLUMNS, or more cells in a row than that, stops the file at once, in
  any row, not only the header;
- every cell element and every row spends from a `Budget` (the reader also spends the
  cells it pads a row with), so rows x columns actually parsed are bounded;
- a formula cell with no cached value stops the file, naming the cell;
- each row comes with its sheet row number and whether it is hidden.

Cell values are decoded by openpyxl's own `WorkSheetParser.parse_cell` (shared strings,
numbers, dates, errors), as its read-only worksheet does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Final

from batch_ims.errors import ManifestError
from batch_ims.manifest.table import MAX_COLUMNS, column_letter

_MAIN: Final = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW: Final = _MAIN + "row"
_CELL: Final = _MAIN + "c"
_VALUE: Final = _MAIN + "v"
_FORMULA: Final = _MAIN + "f"
_COORDINATE: Final = re.compile(r"([A-Za-z]+)\$?(\d+)")
_TRUE: Final = ("1", "true")
UNCALCULATED: Final = (
    "a formula that was never calculated (no cached value: the workbook was saved by a "
    "program, not by Excel); open and save it in Excel, or replace the formula by its value"
)


@dataclass(frozen=True, slots=True)
class SheetRow:
    """One `<row>`: its sheet row number, openpyxl's cell dicts (`column` 1-based, `value`,
    `data_type`), and whether the row is hidden."""

    number: int
    cells: list[dict[str, Any]]
    hidden: bool


class Budget:
    """Cells a sheet may cost to read: every cell element, row, and padded cell spends."""

    def __init__(self, path: str, limit: int) -> None:
        self._path = path
        self.limit = limit
        self.spent = 0

    def spend(self, cells: int, *, row: int) -> None:
        self.spent += cells
        if self.spent > self.limit:
            raise ManifestError(
                self._path,
                f"the sheet holds more than {self.limit} cells (rows x columns) by this row; "
                f"at most {self.limit} cells are read: split the manifest, or save it as CSV",
                row=row,
            )


def sheet_rows(path: str, source: IO[bytes], worksheet: Any, budget: Budget) -> Iterator[SheetRow]:
    """The rows of `worksheet` (an openpyxl read-only worksheet) read from `source`."""
    from openpyxl.worksheet._reader import WorkSheetParser
    from openpyxl.xml.functions import iterparse

    book = worksheet.parent
    parser = WorkSheetParser(
        source,
        worksheet._shared_strings,
        data_only=True,
        epoch=book.epoch,
        date_formats=book._date_formats,
        timedelta_formats=book._timedelta_formats,
    )
    number = 0  # the last row's number
    elements = 0  # cell elements met in the row being read
    for _event, element in iterparse(source):
        tag = element.tag
        if tag == _CELL:
            elements += 1
            _check_column(path, element, position=elements, row=number + 1)
            budget.spend(1, row=number + 1)
        elif tag == _ROW:
            number = _row_number(element, number)
            parser.row_counter, parser.col_counter = number, 0
            cells = [_parse(path, parser, cell) for cell in element if cell.tag == _CELL]
            hidden = element.get("hidden") in _TRUE
            element.clear()
            elements = 0
            budget.spend(1, row=number)
            yield SheetRow(number, cells, hidden)


def _row_number(element: Any, last: int) -> int:
    text = element.get("r")
    if text is None:
        return last + 1
    try:
        return int(text)
    except ValueError:
        return int(float(text))


def _check_column(path: str, element: Any, *, position: int, row: int) -> None:
    """A cell beyond MAX_COLUMNS, or one cell too many in its row, stops the file."""
    column, letters = position, column_letter(position - 1)
    found = _COORDINATE.fullmatch(element.get("r") or "")
    if found is not None:
        letters, row = found.group(1).upper(), int(found.group(2))
        column = _column_index(letters)
    if column > MAX_COLUMNS or position > MAX_COLUMNS:
        last = column_letter(MAX_COLUMNS - 1)
        raise ManifestError(
            path,
            f"a cell in column {letters} (column {column}, the row's cell {position}); columns "
            f"are limited in every row, at most {MAX_COLUMNS} are allowed (A to {last}): "
            f"clear or delete the columns after {last}",
            row=row,
            column=letters,
        )


def _column_index(letters: str) -> int:
    """1-based: A -> 1, ZZZ -> 18278 (long texts are far past any limit, never computed)."""
    if len(letters) > 3:
        return 1 << 20
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index


def _parse(path: str, parser: Any, element: Any) -> dict[str, Any]:
    """openpyxl's decoding of one cell, refusing a formula that was never calculated."""
    formula = element.find(_FORMULA)
    if formula is not None:
        value = element.find(_VALUE)
        if value is None or (not value.text and element.get("t") != "str"):
            found = _COORDINATE.fullmatch(element.get("r") or "")
            row, column = parser.row_counter, column_letter(parser.col_counter)
            if found is not None:
                row, column = int(found.group(2)), found.group(1).upper()
            raise ManifestError(path, UNCALCULATED, row=row, column=column)
    cell: dict[str, Any] = parser.parse_cell(element)
    return cell
