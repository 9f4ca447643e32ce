"""The exact rules, entry by entry: every message a user sees about a row comes from here.

The column-wise screens in `validate` only pick out which images need this slower look; for
an image they pass untouched, these rules would give the same ops and no error.

Decisions: a `remove` row may carry a value, which is ignored. Two rows of one image that
change one attribute identically are merged into one op; rows that change it differently
(another op or another value) are all invalid, each naming the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from batch_ims.manifest.attributes import (
    OP_ERROR,
    attribute_error,
    check_value,
    image_id_error,
    parse_op,
    parse_path,
    remove_error,
)
from batch_ims.manifest.layout import Entries
from batch_ims.manifest.rules import AttributeRules
from batch_ims.models import ImageTask, InvalidItem, Op, RowError

NO_VALUE_COLUMN = "add and replace need a value, but the manifest has no value column"


@dataclass(frozen=True, slots=True)
class Checked:
    """One entry after the exact rules: its op when valid, its errors otherwise."""

    row: int
    attribute: str
    label: str
    value: str
    op: Op | None
    errors: tuple[RowError, ...]


def check_entry(entries: Entries, index: int, rules: AttributeRules) -> Checked:
    row = int(entries.row_numbers[entries.row[index]])
    op_text = entries.op_texts[entries.op_codes[index]]
    path_text = entries.path_texts[entries.path_codes[index]]
    value = "" if entries.values is None else str(entries.values[index])
    wide = entries.layout == "wide"
    path_label, value_label = (path_text, path_text) if wide else ("path", "value")
    errors: list[RowError] = []
    op = parse_op(op_text)
    if op is None:
        errors.append(RowError(row, "op", op_text, OP_ERROR))
    attribute = parse_path(path_text)
    problem = attribute_error(attribute, rules)
    if problem is not None:
        errors.append(RowError(row, path_label, path_text, problem))
    elif op == "remove":
        problem = remove_error(attribute, rules)
        if problem is not None:  # in the wide layout the cell says `<remove>`
            shown = value if wide else path_text
            errors.append(RowError(row, path_label, shown, problem))
    sent = value
    if op in ("add", "replace") and problem is None:
        if entries.values is None:
            errors.append(RowError(row, "value", "", NO_VALUE_COLUMN))
        else:
            sent, problem = check_value(attribute, value, rules)
            if problem is not None:
                errors.append(RowError(row, value_label, value, problem))
    made = None
    if op is not None and not errors:
        made = Op(op, "/" + attribute) if op == "remove" else Op(op, "/" + attribute, sent)
    return Checked(row, attribute, value_label, value, made, tuple(errors))


def judge_image(
    image_id: str, checked: list[Checked], row_errors: list[RowError]
) -> ImageTask | InvalidItem:
    """All entries and row-level errors of one image -> a task, or an invalid item."""
    ops, conflicts = merge(checked)
    errors = [e for c in checked for e in c.errors] + conflicts + row_errors
    rows = tuple(sorted({c.row for c in checked} | {e.row for e in row_errors}))
    if not errors:
        return ImageTask(image_id, ops, rows)
    errors.sort(key=lambda e: e.row)
    return InvalidItem(image_id, rows, ops, tuple(errors))


def judge_bad_id(
    raw_id: str, row: int, checked: list[Checked], row_errors: list[RowError]
) -> InvalidItem:
    """A row whose image_id is not a UUID: its own invalid item, with all its errors."""
    errors = [e for e in row_errors if e.column == "image_id"]  # e.g. a date, said better
    if not errors:
        errors.append(RowError(row, "image_id", raw_id, image_id_error(raw_id)))
    errors += [e for c in checked for e in c.errors]
    errors += [e for e in row_errors if e.column != "image_id"]
    return InvalidItem(raw_id.strip(), (row,), (), tuple(errors))


def merge(checked: list[Checked]) -> tuple[tuple[Op, ...], list[RowError]]:
    """Valid ops in manifest order, identical repeats merged; conflicting ones reported."""
    groups: dict[str, list[tuple[Checked, Op]]] = {}
    for item in checked:
        if item.op is not None:
            groups.setdefault(item.attribute, []).append((item, item.op))
    clashing = {
        attribute
        for attribute, items in groups.items()
        if len({(op.op, op.value) for _, op in items}) > 1
    }
    conflicts = [
        RowError(
            item.row,
            item.label,
            item.value,
            f"{attribute} is changed differently for this image in rows "
            f"{', '.join(str(other.row) for other, _ in groups[attribute])}; "
            "keep one change per image and attribute",
        )
        for attribute in clashing
        for item, _ in groups[attribute]
    ]
    kept = tuple(items[0][1] for attribute, items in groups.items() if attribute not in clashing)
    return kept, conflicts
