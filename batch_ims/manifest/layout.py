"""Table -> Entries: recognise the layout and turn rows (or cells) into requested changes.

Long layout (a `path` column): columns image_id, op (optional; empty means replace), path,
value (optional: without it only `remove` rows are valid). Other columns, such as a comment,
are ignored, except one named like a modifiable IMS attribute (`name`, `min_ram`...): such
a file mixes the two layouts, and is refused.

Wide layout (no `path` column): image_id plus one column per attribute, the header being
the attribute name in any case (a leading "/" is allowed). A header that names no attribute
that can be changed is one error about the header, not one per row. A header starting
with `#` (`#status`, as `export` writes context) marks a column for people: it is ignored.
Every other column is an attribute, so a `notes` column would set a `notes` attribute. A
cell that is empty or only white space leaves that attribute alone, the cell `<remove>`
removes it, any other text adds it (JSON Patch add creates or overwrites). A wide row
without any such cell is invalid ("nothing to change"), so that every row is accounted for
in the report.

In both layouts a value starting with an apostrophe before `=`, `+`, `-`, `@`, tab or CR
is read without that apostrophe (`batch_ims.formula`): the text marker spreadsheets and the
undo manifest put before what would otherwise be a formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from batch_ims.errors import ManifestError
from batch_ims.formula import unmark
from batch_ims.manifest.attributes import REMOVE_CELL, attribute_error, parse_path
from batch_ims.manifest.rules import AttributeRules
from batch_ims.manifest.table import (
    INDEX,
    MAX_CELL_CHARS,
    IntArray,
    ObjArray,
    Table,
    column_letter,
    header_key,
    object_array,
)

Layout = Literal["long", "wide"]
EMPTY_ROW: Final = "nothing to change: every attribute cell of this row is empty"
ROW_LABEL: Final = "(all attributes)"
_LONG_ONLY: Final = ("op", "value")
_LONG_COLUMNS: Final = ("image_id", "op", "path", "value")
COMMENT_PREFIX: Final = "#"  # a wide-layout column for people, never sent
_EXPECTED: Final = (
    "expected image_id plus path, value and optionally op (long layout), "
    "or image_id plus one column per attribute (wide layout)"
)


@dataclass(frozen=True, slots=True)
class Columns:
    layout: Layout
    image_id: int
    op: int | None = None
    path: int | None = None
    value: int | None = None
    attributes: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Entries:
    """One entry per requested change: a long-layout row or a non-blank wide-layout cell.

    Entries are in manifest order. `op_codes`/`path_codes` index `op_texts`/`path_texts`
    (raw cell texts; in the wide layout the path text is the column header). `values` is
    None when the long layout has no value column. `problems` maps a data row index to
    (column label, cell text, message) for row-level faults found while reading.
    """

    layout: Layout
    row: IntArray
    op_codes: IntArray
    op_texts: list[str]
    path_codes: IntArray
    path_texts: list[str]
    values: ObjArray | None
    row_ids: ObjArray
    row_numbers: IntArray
    problems: dict[int, list[tuple[str, str, str]]]

    @property
    def one_per_row(self) -> bool:
        """Long layout: entry i is data row i."""
        return self.layout == "long"


def resolve_columns(path: str, table: Table, rules: AttributeRules) -> Columns:
    """Find the layout and its columns in the header, or raise ManifestError."""
    keys = [header_key(cell) for cell in table.header]
    _reject_duplicates(path, table, keys)
    if "image_id" not in keys:
        found = ", ".join(repr(cell.strip()) for cell in table.header if cell.strip())
        raise ManifestError(
            path,
            f"no image_id column (found: {found or 'none'}); {_EXPECTED}",
            row=table.header_row,
        )
    image_id = keys.index("image_id")
    if "path" in keys:
        _reject_attribute_columns(path, table, keys, rules)
        return Columns(
            layout="long",
            image_id=image_id,
            op=keys.index("op") if "op" in keys else None,
            path=keys.index("path"),
            value=keys.index("value") if "value" in keys else None,
        )
    present = [name for name in _LONG_ONLY if name in keys]
    if present:
        raise ManifestError(
            path,
            f"column {present[0]!r} but no 'path' column: the long layout needs "
            "image_id, path, value (and optionally op)",
            row=table.header_row,
        )
    attributes = tuple(
        i for i in range(len(keys)) if i != image_id and keys[i] and not is_comment(keys[i])
    )
    for index in range(len(keys)):
        if not keys[index]:
            _reject_headless_cells(path, table, index)
    if not attributes:
        raise ManifestError(path, f"only an image_id column; {_EXPECTED}", row=table.header_row)
    for index in attributes:
        _check_attribute_header(path, table, index, keys[index], rules)
    return Columns(layout="wide", image_id=image_id, attributes=attributes)


def is_comment(key: str) -> bool:
    """A header for people (`#status`): the wide layout ignores its column."""
    return key.startswith(COMMENT_PREFIX)


def _check_attribute_header(
    path: str, table: Table, index: int, key: str, rules: AttributeRules
) -> None:
    """A wide-layout header names an attribute for every row: one error, on the header."""
    problem = attribute_error(parse_path(key), rules)
    if problem is not None:
        raise ManifestError(
            path,
            f"the header {table.header[index].strip()!r} is not an attribute that can be "
            f"changed: {problem}",
            row=table.header_row,
            column=column_letter(index),
        )


def _reject_headless_cells(path: str, table: Table, index: int) -> None:
    """In the wide layout the header names the attribute: a filled cell needs one."""
    filled = np.flatnonzero(np.fromiter(map(bool, map(str.strip, table.columns[index])), bool))
    if len(filled):
        raise ManifestError(
            path,
            "this cell is in a column without a header; clear it or name its column",
            row=int(table.row_numbers[filled[0]]),
            column=column_letter(index),
        )


def _reject_attribute_columns(
    path: str, table: Table, keys: list[str], rules: AttributeRules
) -> None:
    """In the long layout other columns are ignored, unless they look like attributes: a
    user who wrote one would expect it applied, and nothing would happen."""
    for index, key in enumerate(keys):
        if key not in _LONG_COLUMNS and parse_path(key) in rules.modifiable:
            raise ManifestError(
                path,
                f"column {table.header[index].strip()!r} is an attribute, but a manifest with "
                "a path column (long layout) ignores other columns; put it in path/value "
                "rows, or drop the path, op and value columns (wide layout)",
                row=table.header_row,
            )


def _reject_duplicates(path: str, table: Table, keys: list[str]) -> None:
    seen: dict[str, int] = {}
    for index, key in enumerate(keys):
        name = parse_path(key) if key not in _LONG_COLUMNS else key
        if not name:
            continue
        if name in seen:
            raise ManifestError(
                path,
                f"duplicate column {table.header[index].strip()!r} (also column "
                f"{seen[name] + 1}); each column may appear once",
                row=table.header_row,
            )
        seen[name] = index


def check_cell_sizes(path: str, table: Table) -> None:
    """A cell of more than MAX_CELL_CHARS characters makes the file unusable."""
    for index, column in enumerate(table.columns):
        if len(column) and max(map(len, column)) > MAX_CELL_CHARS:
            at = int(np.argmax(np.fromiter(map(len, column), np.int64, len(column))))
            raise ManifestError(
                path,
                f"a cell of {len(column[at])} characters; at most {MAX_CELL_CHARS} are allowed",
                row=int(table.row_numbers[at]),
                column=table.header[index].strip(),
            )


_IS_SPACE = np.frompyfunc(str.isspace, 1, 1)  # every cell is text by now (read.py)


def drop_blank_rows(table: Table, image_id: int) -> Table:
    """Remove rows whose every cell is empty or white space."""
    ids = table.columns[image_id]
    candidates = np.flatnonzero((ids == "") | np.asarray(_IS_SPACE(ids), dtype=bool))
    if not len(candidates):
        return table
    keep = np.ones(table.height, dtype=bool)
    for i in candidates.tolist():
        if not any(str(col[i]).strip() for col in table.columns):
            keep[i] = False
    return table if keep.all() else table.take(keep)


def make_entries(table: Table, columns: Columns) -> Entries:
    if columns.layout == "long":
        return _long_entries(table, columns)
    return _wide_entries(table, columns)


def _problems(table: Table, image_id: int) -> dict[int, list[tuple[str, str, str]]]:
    problems: dict[int, list[tuple[str, str, str]]] = {}
    for (row, column), message in sorted(table.notes.items()):
        label = "image_id" if column == image_id else table.header[column].strip()
        problems.setdefault(row, []).append((label, str(table.columns[column][row]), message))
    return problems


def _factorize(column: ObjArray) -> tuple[IntArray, list[str]]:
    import pandas as pd

    codes, uniques = pd.factorize(column)
    return codes.astype(INDEX), [str(u) for u in uniques]


def _long_entries(table: Table, columns: Columns) -> Entries:
    assert columns.path is not None
    n = table.height
    if columns.op is None:
        op_codes, op_texts = np.zeros(n, dtype=INDEX), [""]
    else:
        op_codes, op_texts = _factorize(table.columns[columns.op])
    path_codes, path_texts = _factorize(table.columns[columns.path])
    used = {columns.image_id, columns.op, columns.path, columns.value}
    notes = {key: note for key, note in table.notes.items() if key[1] in used}
    return Entries(
        layout="long",
        row=np.arange(n, dtype=INDEX),
        op_codes=op_codes,
        op_texts=op_texts,
        path_codes=path_codes,
        path_texts=path_texts,
        values=None if columns.value is None else _unmarked(table.columns[columns.value]),
        row_ids=table.columns[columns.image_id],
        row_numbers=table.row_numbers,
        problems=_problems(_with_notes(table, notes), columns.image_id),
    )


def _wide_entries(table: Table, columns: Columns) -> Entries:
    n = table.height
    rows, codes, removes, values = [], [], [], []
    for code, index in enumerate(columns.attributes):
        column = table.columns[index]
        filled = np.fromiter(map(bool, map(str.strip, column)), dtype=bool, count=n)
        picked = column[filled]
        rows.append(np.flatnonzero(filled))
        codes.append(np.full(len(picked), code, dtype=INDEX))
        removes.append(
            np.fromiter((v.strip().lower() == REMOVE_CELL for v in picked), bool, len(picked))
        )
        values.append(picked)
    row = np.concatenate(rows) if rows else np.empty(0, dtype=INDEX)
    order = np.argsort(row, kind="stable")
    problems = _problems(table, columns.image_id)
    for i in np.setdiff1d(np.arange(n), row).tolist():
        problems.setdefault(i, []).append((ROW_LABEL, "", EMPTY_ROW))
    return Entries(
        layout="wide",
        row=row[order].astype(INDEX),
        op_codes=np.concatenate(removes)[order].astype(INDEX),
        op_texts=["add", "remove"],
        path_codes=np.concatenate(codes)[order],
        path_texts=[parse_path(header_key(table.header[i])) for i in columns.attributes],
        values=_unmarked(object_array(np.concatenate(values)[order].tolist())),
        row_ids=table.columns[columns.image_id],
        row_numbers=table.row_numbers,
        problems=problems,
    )


def _unmarked(values: ObjArray) -> ObjArray:
    """Values with the apostrophe that makes a formula text dropped (`batch_ims.formula`):
    `'=x` is read as `=x`, as the undo manifest and spreadsheets write it."""
    marked = np.flatnonzero(np.fromiter((v[:1] == "'" for v in values), bool, len(values)))
    if not len(marked):
        return values
    values = values.copy()
    for index in marked.tolist():
        values[index] = unmark(values[index])
    return values


def _with_notes(table: Table, notes: dict[tuple[int, int], str]) -> Table:
    return Table(table.header, table.header_row, table.columns, table.row_numbers, notes)
