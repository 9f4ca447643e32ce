"""Target columns: one manifest, several targets (regions, projects, clouds).

A cloud names the columns that choose a target (`region` and `project_id` on Huawei's
stack, `cloud` on OpenStack). When the header has any of them, the rows are split by their
values, each part validated as a manifest of its own, in the order each target first
appears; an empty cell means the run's own target (its `--region`, `--cloud`...). The same
image id may then appear under two targets: each is its own image there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from batch_ims.errors import ManifestError
from batch_ims.manifest.table import Table, column_letter, header_key

MAX_TARGET_CHARS: Final = 128
_TARGET_TEXT = re.compile(r"[A-Za-z0-9._:@/+-]*")


@dataclass(frozen=True, slots=True)
class TargetCells:
    """The target columns' values shared by some rows (empty ones left out), and where they
    first appear (to name the cell when the cloud refuses them)."""

    cells: tuple[tuple[str, str], ...]
    first_row: int
    columns: tuple[tuple[str, str], ...] = ()  # column name -> its letter, for messages

    @property
    def values(self) -> dict[str, str]:
        return dict(self.cells)

    @property
    def label(self) -> str:
        """`region=eu-de project_id=...`, or "" for the run's own target."""
        return " ".join(f"{name}={value}" for name, value in self.cells)

    def where(self, path: str) -> str:
        letters = dict(self.columns)
        names = ", ".join(f"{name!r} ({letters.get(name, '?')})" for name, _ in self.cells)
        return f"{path}, row {self.first_row}, column {names}"


def split_targets(
    path: str, table: Table, names: tuple[str, ...]
) -> list[tuple[TargetCells, Table]]:
    """The table's rows by target, the target columns removed; one part with no cells when
    the header names none of `names`."""
    keys = [header_key(cell) for cell in table.header]
    present = [i for i, key in enumerate(keys) if key in names]
    if not present:
        return [(TargetCells((), table.header_row + 1), table)]
    columns = [[str(cell).strip() for cell in table.columns[i].tolist()] for i in present]
    _check_cells(path, table, present, columns)
    rows = list(zip(*columns, strict=True))
    order: dict[tuple[str, ...], int] = {}
    for index, row in enumerate(rows):
        order.setdefault(row, index)
    rest = _without(table, present)
    letters = tuple((keys[i], column_letter(i)) for i in present)
    parts = []
    for row, first in order.items():
        keep = np.fromiter((r == row for r in rows), dtype=bool, count=len(rows))
        cells = tuple((keys[i], value) for i, value in zip(present, row, strict=True) if value)
        target = TargetCells(cells, int(table.row_numbers[first]), letters)
        parts.append((target, rest.take(keep)))
    return parts


def _check_cells(path: str, table: Table, present: list[int], columns: list[list[str]]) -> None:
    for index, values in zip(present, columns, strict=True):
        for row, value in enumerate(values):
            if len(value) > MAX_TARGET_CHARS or not _TARGET_TEXT.fullmatch(value):
                raise ManifestError(
                    path,
                    f"{value[:40]!r} is not a target name: letters, digits and . _ : @ / + - "
                    f"only, at most {MAX_TARGET_CHARS} characters",
                    row=int(table.row_numbers[row]),
                    column=table.header[index].strip(),
                )


def _without(table: Table, drop: list[int]) -> Table:
    """The table without the columns at `drop`; notes follow their cells."""
    kept = [i for i in range(len(table.columns)) if i not in drop]
    new_column = {old: new for new, old in enumerate(kept)}
    return Table(
        header=tuple(table.header[i] for i in kept),
        header_row=table.header_row,
        columns=tuple(table.columns[i] for i in kept),
        row_numbers=table.row_numbers,
        notes={(r, new_column[c]): m for (r, c), m in table.notes.items() if c in new_column},
        small_cells=table.small_cells,
        source=table.source,
        hidden=table.hidden,
    )


def several_targets(parts: Sequence[tuple[TargetCells, object]]) -> bool:
    """True when a split manifest names targets (a run over one named target counts too)."""
    return len(parts) > 1 or bool(parts[0][0].cells)
