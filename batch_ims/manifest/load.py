"""The reading pipeline: file -> Table -> columns -> Entries -> tasks and invalid items."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable

import numpy as np
import structlog

from batch_ims.errors import ManifestError
from batch_ims.manifest import Manifest
from batch_ims.manifest.hidden import HiddenRows, hidden_numbers, rows_shown, split_hidden
from batch_ims.manifest.layout import (
    Columns,
    check_cell_sizes,
    drop_blank_rows,
    make_entries,
    resolve_columns,
)
from batch_ims.manifest.read import read_table
from batch_ims.manifest.rules import AttributeRules
from batch_ims.manifest.table import INDEX, Table, object_array
from batch_ims.manifest.targets import TargetCells, split_targets
from batch_ims.manifest.typos import find_typos, refuse_typos
from batch_ims.manifest.validate import validate_columns, validate_entries
from batch_ims.models import ImageTask, InvalidItem

log = structlog.get_logger()


def load(
    path: str,
    *,
    sheet: str | None,
    encoding: str | None,
    rules: AttributeRules,
    strict: bool = False,
    hidden_rows: str | None = None,
) -> Manifest:
    started = time.perf_counter()
    table = read_table(path, sheet=sheet, encoding=encoding)
    manifest = _validated(
        path, table, rules=rules, strict=strict, hidden_rows=hidden_rows, started=started
    )
    _refuse_all_hidden(path, [manifest])
    return manifest


def load_targets(
    path: str,
    *,
    sheet: str | None,
    encoding: str | None,
    rules: AttributeRules,
    target_columns: tuple[str, ...],
    strict: bool = False,
    hidden_rows: str | None = None,
) -> list[tuple[TargetCells, Manifest]]:
    """The manifest split by its target columns (see `targets`), each part validated."""
    started = time.perf_counter()
    table = read_table(path, sheet=sheet, encoding=encoding)
    parts = [
        (
            target,
            _validated(
                path, part, rules=rules, strict=strict, hidden_rows=hidden_rows, started=started
            ),
        )
        for target, part in split_targets(path, table, target_columns)
    ]
    _refuse_all_hidden(path, [manifest for _, manifest in parts])
    return parts


def _validated(
    path: str,
    table: Table,
    *,
    rules: AttributeRules,
    strict: bool,
    hidden_rows: str | None,
    started: float,
) -> Manifest:
    columns = resolve_columns(path, table, rules)
    if not table.small_cells:
        check_cell_sizes(path, table)
    table = drop_blank_rows(table, columns.image_id)
    if table.height == 0:
        raise ManifestError(
            path, "a header row but no data rows; add one row per change below the header"
        )
    hidden = HiddenRows(hidden_numbers(table), hidden_rows) if table.hidden is not None else None
    if hidden is not None and hidden_rows == "skip":
        table, hidden = _skip_hidden(table, hidden, columns, rules)
    entries = make_entries(table, columns)
    typos = find_typos(path, entries, rules, header_row=table.header_row)
    if strict:
        entries = refuse_typos(entries, typos)
    source = dict(table.source)
    del table
    valid, invalid = validate_columns(entries, rules)
    log.info(
        "manifest.read",
        path=path,
        layout=columns.layout,
        rows=len(entries.row_numbers),
        images=valid.image_count,
        invalid=len(invalid),
        typos=0 if strict else len(typos),
        seconds=round(time.perf_counter() - started, 3),
        **source,
    )
    return Manifest(
        path=path,
        layout=columns.layout,
        valid=valid,
        invalid=invalid,
        row_count=len(entries.row_numbers),
        warnings=() if strict else tuple(typos),
        hidden=hidden if hidden else None,
    )


def _skip_hidden(
    table: Table, hidden: HiddenRows, columns: Columns, rules: AttributeRules
) -> tuple[Table, HiddenRows]:
    """The visible rows (maybe none), and the hidden ones validated apart (to be reported,
    not sent)."""
    visible, skipped = split_hidden(table)
    if skipped is None:
        return table, hidden
    valid, invalid = validate_columns(make_entries(skipped, columns), rules)
    return visible, dataclasses.replace(hidden, skipped=valid, skipped_invalid=tuple(invalid))


def _refuse_all_hidden(path: str, manifests: list[Manifest]) -> None:
    """With "skip", a manifest whose every data row is hidden leaves nothing to send."""
    if any(manifest.row_count for manifest in manifests):
        return
    rows = np.sort(np.concatenate([m.hidden.rows for m in manifests if m.hidden is not None]))
    raise ManifestError(
        path,
        f"every data row is hidden ({rows_shown(rows)}); with --hidden-rows skip nothing "
        "is left to send: show the rows in Excel, or use --hidden-rows include",
    )


def validate_long_rows(
    rows: Iterable[tuple[int, str, str, str, str]], *, rules: AttributeRules
) -> tuple[list[ImageTask], list[InvalidItem]]:
    listed = list(rows)
    if not listed:
        return [], []
    numbers, *cells = zip(*listed, strict=True)
    table = Table(
        header=("image_id", "op", "path", "value"),
        header_row=1,
        columns=tuple(object_array(list(column)) for column in cells),
        row_numbers=np.asarray(numbers, dtype=INDEX),
        notes={},
    )
    return validate_entries(make_entries(table, resolve_columns("<rows>", table, rules)), rules)
