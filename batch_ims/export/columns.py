"""What an export writes: which columns, and each image's cells.

Attribute columns hold values a `run` of the same file may send: attributes the service's
rules say can be changed, except those named like the cloud's target columns (`region`),
which a manifest reader takes as the target of a row (write them as `#region`). Context
columns (`#status`) hold any property for the reader; the manifest reader ignores a column
whose header starts with `#`, so a run never sends them. A cell is the value as the
manifest holds it (`as_text`); a value the manifest could not send back as it is (one the
rules refuse, or would rewrite, or a blank one) is left empty, which leaves the attribute
alone, and counted.

`--set ATTR=VALUE` writes VALUE (checked, as a run will send it) in every row;
`--unset ATTR` writes `<remove>` in the rows of the images that have ATTR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from batch_ims.errors import UsageError
from batch_ims.manifest.attributes import (
    REMOVE_CELL,
    attribute_error,
    check_value,
    remove_error,
)
from batch_ims.manifest.layout import COMMENT_PREFIX
from batch_ims.manifest.rules import AttributeRules
from batch_ims.values import as_text

CONTEXT_PREFIX: Final = COMMENT_PREFIX  # `#status`: a column the manifest reader ignores


@dataclass(frozen=True, slots=True)
class ColumnChoice:
    """`columns`: attributes and `#context` columns as asked (None: the default choice);
    `sets`: attribute -> value for every row; `unsets`: attributes to remove."""

    columns: tuple[str, ...] | None
    sets: Mapping[str, str] = field(default_factory=dict)
    unsets: tuple[str, ...] = ()

    @property
    def context(self) -> tuple[str, ...]:
        return tuple(c[1:] for c in self.columns or () if c.startswith(CONTEXT_PREFIX))

    @property
    def attributes(self) -> tuple[str, ...] | None:
        if self.columns is None:
            return None
        return tuple(c for c in self.columns if not c.startswith(CONTEXT_PREFIX))


def parse_choice(
    columns: str | None,
    sets: Sequence[str],
    unsets: Sequence[str],
    rules: AttributeRules,
    *,
    reserved: Sequence[str] = (),
) -> ColumnChoice:
    """The options as a checked choice, or UsageError (exit 2) naming the bad one.

    `reserved`: the names a manifest's reader takes as target columns (a region, a
    cloud), which therefore can never be attribute columns of a manifest."""
    chosen = None
    if columns is not None:
        chosen = tuple(dict.fromkeys(c.strip() for c in columns.split(",") if c.strip()))
        if not chosen:
            raise UsageError("--columns is empty; name attributes such as name,__description")
        for column in chosen:
            _check_column(column, rules, reserved)
    assigned: dict[str, str] = {}
    for text in sets:
        attribute, equals, value = text.partition("=")
        attribute = attribute.strip()
        if not equals:
            raise UsageError(f"--set {text!r}: expected ATTR=VALUE, e.g. __support_kvm=true")
        _check_attribute("--set", attribute, rules, reserved)
        assigned[attribute] = _checked_value(attribute, value, rules)
    removed = tuple(dict.fromkeys(u.strip() for u in unsets))
    for attribute in removed:
        _check_attribute("--unset", attribute, rules, reserved)
        problem = remove_error(attribute, rules)
        if problem is not None:
            raise UsageError(f"--unset {attribute}: {problem}")
        if attribute in assigned:
            raise UsageError(f"--set and --unset both name {attribute}; give one")
    return ColumnChoice(chosen, assigned, removed)


def _check_column(column: str, rules: AttributeRules, reserved: Sequence[str]) -> None:
    if column.startswith(CONTEXT_PREFIX):
        if not column[1:].strip():
            raise UsageError("--columns: '#' needs a property name after it, e.g. #status")
        return
    problem = attribute_error(column, rules) or _reserved_error(column, reserved)
    if problem is not None:
        raise UsageError(
            f"--columns {column}: not an attribute that can be changed ({problem}); "
            f"to write it for context only, name it #{column}"
        )


def _check_attribute(
    option: str, attribute: str, rules: AttributeRules, reserved: Sequence[str]
) -> None:
    problem = attribute_error(attribute, rules) or _reserved_error(attribute, reserved)
    if problem is not None:
        raise UsageError(f"{option} {attribute}: {problem}")


def _reserved_error(attribute: str, reserved: Sequence[str]) -> str | None:
    if attribute not in reserved:
        return None
    return f"a manifest column named {attribute} chooses the target of its rows, not a value"


def _checked_value(attribute: str, value: str, rules: AttributeRules) -> str:
    if not value.strip():
        raise UsageError(
            f"--set {attribute}=: an empty cell leaves an attribute alone in a wide manifest, "
            f"so it cannot set one; give a value, or --unset {attribute}"
        )
    normal, problem = check_value(attribute, value, rules)
    if problem is not None:
        raise UsageError(f"--set {attribute}={value}: {problem}")
    return normal


def writable(attribute: str, value: Any, rules: AttributeRules) -> str | None:
    """The cell for the image's current value, or None when the manifest could not send
    it back unchanged (the cell is then left empty: the attribute is left alone)."""
    if value is None or isinstance(value, list | dict):
        return None
    text = as_text(value)
    if not text.strip():
        return None
    normal, problem = check_value(attribute, text, rules)
    return text if problem is None and normal == text else None


class CellMaker:
    """Each selected image's cells: attribute -> text, plus `#key` -> text for context."""

    def __init__(
        self, choice: ColumnChoice, rules: AttributeRules, *, reserved: Sequence[str] = ()
    ) -> None:
        self._choice = choice
        self._rules = rules
        self._reserved = frozenset(reserved)
        self._attributes = choice.attributes
        self.left_empty = 0  # current values the manifest could not send back unchanged
        self.first_left_empty: tuple[str, str] | None = None

    def cells(self, image: Mapping[str, Any]) -> dict[str, str]:
        cells: dict[str, str] = {}
        wanted = self._attributes if self._attributes is not None else self._changeable(image)
        for attribute in wanted:
            if attribute not in image:
                continue
            cell = writable(attribute, image[attribute], self._rules)
            if cell is not None:
                cells[attribute] = cell
            elif image[attribute] is not None and as_text(image[attribute]).strip():
                self._note_left_empty(str(image["id"]), attribute)
        cells.update(self._choice.sets)
        for attribute in self._choice.unsets:
            if attribute in image:
                cells[attribute] = REMOVE_CELL
            else:
                cells.pop(attribute, None)
        for key in self._choice.context:
            if key in image:
                cells[CONTEXT_PREFIX + key] = _context_text(image[key])
        return cells

    def _changeable(self, image: Mapping[str, Any]) -> list[str]:
        return [
            key
            for key in image
            if key not in self._reserved and attribute_error(key, self._rules) is None
        ]

    def _note_left_empty(self, image_id: str, attribute: str) -> None:
        self.left_empty += 1
        if self.first_left_empty is None:
            self.first_left_empty = (image_id, attribute)


def _context_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(as_text(v) for v in value)
    return as_text(value)


def ordered_columns(found: Sequence[str], choice: ColumnChoice) -> list[str]:
    """The header after image_id: as asked, else `name` first, attributes in name order,
    then `--set`/`--unset` columns not among them; `#context` columns last."""
    if choice.columns is not None:
        asked = [c for c in choice.columns]
        extra = [a for a in (*choice.sets, *choice.unsets) if a not in asked]
        attributes = [c for c in asked if not c.startswith(CONTEXT_PREFIX)] + extra
        return attributes + [c for c in asked if c.startswith(CONTEXT_PREFIX)]
    names = {c for c in found if not c.startswith(CONTEXT_PREFIX)}
    names.update(choice.sets)
    names.update(choice.unsets)
    first = ["name"] if "name" in names else []
    return first + sorted(names - {"name"})
