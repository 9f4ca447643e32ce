"""The manifest as a table of text cells, whatever file format it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

ObjArray = npt.NDArray[np.object_]
IntArray = npt.NDArray[np.signedinteger[Any]]
INDEX: Final = np.int32  # row and code arrays: half the memory of int64, 2**31 rows
BoolArray = npt.NDArray[np.bool_]

MAX_CELL_CHARS: Final = 1_000_000  # a longer cell makes the whole file unusable
MAX_COLUMNS: Final = 1_000  # a wider header makes the whole file unusable


@dataclass(frozen=True, slots=True)
class Table:
    """Header cells, then one object array of `str` per column, all of equal length.

    `row_numbers[i]` is the spreadsheet row number of data row i (the header is row
    `header_row`, 1 for most files). `notes[(i, column)]` says why a cell could not be read
    as text (a date in the image_id column, an Excel error value): that row is invalid.
    `small_cells` is true when the reader proved that no cell exceeds MAX_CELL_CHARS.
    `source` says how the file was read (encoding and delimiter, or sheet), for the log.
    `hidden[i]` is true when data row i is hidden in the workbook (an Excel filter, or
    hidden by hand); None when no row is.
    """

    header: tuple[str, ...]
    header_row: int
    columns: tuple[ObjArray, ...]
    row_numbers: IntArray
    notes: dict[tuple[int, int], str]
    small_cells: bool = False
    source: tuple[tuple[str, str], ...] = ()
    hidden: BoolArray | None = None

    @property
    def height(self) -> int:
        return len(self.row_numbers)

    def take(self, keep: BoolArray) -> Table:
        """The rows where `keep` is true (notes renumbered)."""
        new_index = np.cumsum(keep) - 1
        notes = {(int(new_index[i]), c): m for (i, c), m in self.notes.items() if keep[i]}
        return Table(
            header=self.header,
            header_row=self.header_row,
            columns=tuple(col[keep] for col in self.columns),
            row_numbers=self.row_numbers[keep],
            notes=notes,
            small_cells=self.small_cells,
            source=self.source,
            hidden=None if self.hidden is None else self.hidden[keep],
        )


def header_key(cell: str) -> str:
    """A header cell as compared with column names: trimmed, lower-case, no byte-order mark."""
    return cell.strip().lstrip("\ufeff").strip().lower()


def column_letter(index: int) -> str:
    """The spreadsheet name of a 0-based column index: 0 -> A, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def object_array(values: list[Any]) -> ObjArray:
    """A 1-D object array of `values` (never a 2-D one; fast for any kind of item)."""
    array: ObjArray = np.fromiter(values, dtype=object, count=len(values))
    return array
