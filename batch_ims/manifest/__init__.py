"""Read a manifest (CSV, TSV/TXT, XLSX) and validate it into per-image tasks.

pandas, numpy and openpyxl are imported only when a manifest is actually read, so that
importing this package (and `batch-ims --help`) stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from batch_ims.errors import ManifestError
from batch_ims.manifest.attributes import (
    REMOVE_CELL,
    attribute_error,
    check_value,
    normalize_image_id,
)
from batch_ims.manifest.rules import AttributeRules, AttributeWarning
from batch_ims.models import ImageTask, InvalidItem

if TYPE_CHECKING:  # numpy is imported only when a manifest is read
    from batch_ims.manifest.hidden import HiddenRows
    from batch_ims.manifest.targets import TargetCells
    from batch_ims.manifest.valid import AttributeSummary, TaskStream, ValidRows

__all__ = [
    "REMOVE_CELL",
    "AttributeRules",
    "AttributeWarning",
    "Manifest",
    "ManifestError",
    "attribute_error",
    "check_value",
    "load_manifest",
    "load_manifest_targets",
    "normalize_image_id",
    "validate_rows",
]


@dataclass(frozen=True)
class Manifest:
    """A validated manifest.

    `tasks`: valid images in order of first appearance, ops in manifest order; built from
    `valid` (the valid rows in columns) the first time they are asked for, so that `plan`
    never builds them. `invalid`: one item per image with at least one invalid row (not
    sent; all its rows and errors listed, `ops` holding its valid rows' ops), plus one per
    row whose image_id is not a UUID. `row_count`: data rows read (header excluded, blank
    rows skipped). `warnings`: extension attributes that look like typos of a known
    attribute (empty with `strict`, where their rows are in `invalid` instead). `hidden`:
    the rows hidden in the workbook, None when none is (with "skip", they are in neither
    `valid` nor `invalid` nor `row_count`; see `manifest/hidden.py`).
    """

    path: str
    layout: Literal["long", "wide"]
    valid: ValidRows
    invalid: list[InvalidItem]
    row_count: int
    warnings: tuple[AttributeWarning, ...] = ()
    hidden: HiddenRows | None = None

    @cached_property
    def tasks(self) -> list[ImageTask]:
        return self.valid.tasks()

    def task_stream(self) -> TaskStream:
        """The tasks as a run walks them: the records of a few thousand images at a time,
        built afresh at each pass, never all at once (`tasks` holds them all)."""
        from batch_ims.manifest.valid import TaskStream

        return TaskStream(self.valid)

    @property
    def image_count(self) -> int:
        """len(tasks), without building them."""
        return self.valid.image_count

    @property
    def op_count(self) -> int:
        """The ops of all tasks, without building them."""
        return self.valid.op_count

    def summary(self, samples: int) -> dict[str, AttributeSummary]:
        """Per attribute: ops per name, and its first `samples` distinct values in task order."""
        return self.valid.summary(samples)


def load_manifest(
    path: str | Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    rules: AttributeRules,
    strict: bool = False,
    hidden_rows: str | None = None,
) -> Manifest:
    """Read and validate a manifest; ManifestError (one line) if the file is unusable.

    `rules`: the image service's attribute rules (the cloud gives them). `strict`: a suspected
    attribute typo makes its rows invalid instead of giving a warning. `hidden_rows`: rows
    hidden in the workbook are left out with "skip" (`Manifest.hidden` keeps them, to be
    reported), read as any row with "include" or None (and listed in `Manifest.hidden`).
    """
    from batch_ims.manifest.load import load

    return load(
        str(path),
        sheet=sheet,
        encoding=encoding,
        rules=rules,
        strict=strict,
        hidden_rows=hidden_rows,
    )


def load_manifest_targets(
    path: str | Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    rules: AttributeRules,
    target_columns: tuple[str, ...],
    strict: bool = False,
    hidden_rows: str | None = None,
) -> list[tuple[TargetCells, Manifest]]:
    """`load_manifest`, split by the target columns the cloud names (`manifest.targets`):
    one part with no target cells when the file has none of those columns."""
    from batch_ims.manifest.load import load_targets

    return load_targets(
        str(path),
        sheet=sheet,
        encoding=encoding,
        rules=rules,
        target_columns=target_columns,
        strict=strict,
        hidden_rows=hidden_rows,
    )


def validate_rows(
    rows: Iterable[tuple[int, str, str, str, str]], *, rules: AttributeRules
) -> tuple[list[ImageTask], list[InvalidItem]]:
    """Validate long-layout rows given as (row number, image_id, op, path, value) texts."""
    from batch_ims.manifest.load import validate_long_rows

    return validate_long_rows(rows, rules=rules)
