"""Rows hidden in the workbook (an Excel filter, or hidden by hand): found, listed, split off.

A user who filters a sheet down to the rows they want and saves it sees only those rows;
the file holds them all. The reader marks hidden rows (`Table.hidden`); what becomes of
them is the caller's choice:

- None, not told: they stay in the manifest as ordinary rows and are listed (`plan` shows
  them; a run refuses such a manifest until told);
- "include": ordinary rows, listed;
- "skip": split off before validation, so they change nothing that is sent (no conflict
  with a visible row of the same image, no invalid image because of them); they are
  validated apart only to be reported: one report row per image of the hidden rows, with
  the ops they held, never sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np

from batch_ims.manifest.table import INDEX, IntArray, Table
from batch_ims.manifest.valid import ValidRows
from batch_ims.models import ImageTask, InvalidItem

_SHOWN_RANGES: Final = 20


@dataclass(frozen=True)
class HiddenRows:
    """The non-blank hidden data rows of a manifest (sheet row numbers, ascending), the
    choice made about them, and with "skip" what they held: `skipped` (their valid
    images) and `skipped_invalid` (their images with an invalid row)."""

    rows: IntArray
    choice: str | None
    skipped: ValidRows | None = None
    skipped_invalid: tuple[InvalidItem, ...] = ()

    def __len__(self) -> int:
        return len(self.rows)

    def describe(self) -> str:
        """The rows as ranges: `rows 4, 6-9, 12` (the first few ranges of a long list)."""
        return rows_shown(self.rows)

    def skipped_images(self) -> Iterator[ImageTask | InvalidItem]:
        """With "skip": one item per image of the hidden rows (valid ones, then invalid)."""
        if self.skipped is not None:
            yield from self.skipped.iter_tasks()
        yield from self.skipped_invalid

    @property
    def skipped_count(self) -> int:
        """Images reported as skipped for their hidden rows."""
        valid = 0 if self.skipped is None else self.skipped.image_count
        return valid + len(self.skipped_invalid)


def split_hidden(table: Table) -> tuple[Table, Table | None]:
    """(the visible rows, the hidden rows or None when no row is hidden)."""
    if table.hidden is None or not table.hidden.any():
        return table, None
    return table.take(~table.hidden), table.take(table.hidden)


def hidden_numbers(table: Table) -> IntArray:
    """The sheet row numbers of the hidden data rows of `table`."""
    if table.hidden is None:
        return np.empty(0, dtype=INDEX)
    numbers: IntArray = table.row_numbers[table.hidden]
    return numbers


def rows_text(rows: IntArray) -> str:
    """Ascending row numbers as ranges, `4, 6-9, 12`; past 20 ranges, `..., (N rows)`."""
    ranges: list[str] = []
    numbers = rows.tolist()
    start = 0
    for end in range(1, len(numbers) + 1):
        if end == len(numbers) or numbers[end] != numbers[end - 1] + 1:
            first, last = numbers[start], numbers[end - 1]
            ranges.append(str(first) if first == last else f"{first}-{last}")
            start = end
    if len(ranges) > _SHOWN_RANGES:
        return ", ".join([*ranges[:_SHOWN_RANGES], f"... ({len(numbers)} rows)"])
    return ", ".join(ranges)


def rows_shown(rows: IntArray) -> str:
    """`row 4` or `rows 4, 6-9, 12` (see `rows_text`)."""
    return f"{'row' if len(rows) == 1 else 'rows'} {rows_text(rows)}"
