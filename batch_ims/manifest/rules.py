"""An image service's attribute rules as one value, so that validation can be given another's.

Each cloud holds its own instance (`clouds/*/rules.py`) and the run passes it in.
Everything that judges an attribute name or value
asks a rules object: which names are read-only, which are the service's own system
attributes, which values each accepts, and which unknown names look like typos.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_NAME_OK = re.compile(r"[a-z0-9_.:\-]+")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class AttributeRules:
    """Which attributes a PATCH may touch and which values each accepts.

    `text`: modifiable attributes holding free text (`max_lengths` may bound them);
    `booleans`, `integers` (0 to `max_integer`), `enums`, `zero_or_uuid`: modifiable
    attributes with coded values. A name starting with `system_prefix` belongs to the
    service: only the modifiable ones are accepted. Any other name that matches
    `extension_name` is an extension attribute (the user's own).
    """

    service: str
    read_only: frozenset[str]
    text: frozenset[str]
    booleans: frozenset[str] = frozenset()
    integers: frozenset[str] = frozenset()
    enums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    zero_or_uuid: frozenset[str] = frozenset()
    max_lengths: Mapping[str, int] = field(default_factory=dict)
    unremovable: frozenset[str] = frozenset()
    system_prefix: str = "__"
    extension_name: re.Pattern[str] = _NAME_OK
    max_name_length: int = 255
    max_integer: int = 2**31 - 1

    @property
    def modifiable(self) -> frozenset[str]:
        return self.text | self.booleans | self.integers | self.enums.keys() | self.zero_or_uuid

    @property
    def coded(self) -> frozenset[str]:
        """Attributes whose values are few and checked one distinct value at a time."""
        return self.booleans | self.integers | self.enums.keys() | self.zero_or_uuid

    def is_extension(self, name: str) -> bool:
        """A name the service does not define, which the user may set freely."""
        return (
            name not in self.modifiable
            and name not in self.read_only
            and not name.startswith(self.system_prefix)
            and self.extension_name.fullmatch(name) is not None
        )

    def suggestion(self, name: str) -> str | None:
        """The modifiable attribute an extension attribute `name` probably meant, or None:
        one edit away (Damerau-Levenshtein distance 1), missing the system prefix, or both
        (`descripton` for `__description`)."""
        if not self.is_extension(name):
            return None
        prefixed = self.system_prefix + name
        if prefixed in self.modifiable:
            return prefixed
        close = sorted(
            known
            for known in self.modifiable
            if one_edit_apart(name, known)
            or (
                self.system_prefix
                and known.startswith(self.system_prefix)
                and one_edit_apart(name, known[len(self.system_prefix) :])
            )
        )
        return close[0] if close else None


@dataclass(frozen=True, slots=True)
class AttributeWarning:
    """An extension attribute that is probably a typo of `suggestion`.

    `row` is the spreadsheet row (header = 1) of its first use in the long layout, or the
    header row in the wide layout, where `column` is the header; `rows` counts the rows
    that use it.
    """

    path: str
    row: int
    column: str
    attribute: str
    suggestion: str
    rows: int

    @property
    def message(self) -> str:
        return (
            f"{self.attribute!r} is not a known attribute and would be stored as an "
            f"extension attribute; did you mean {self.suggestion!r}?"
        )

    def describe(self) -> str:
        used = f" (used in {self.rows} rows)" if self.rows > 1 else ""
        return f"{self.path}, row {self.row}, column {self.column!r}: {self.message}{used}"


def one_edit_apart(a: str, b: str) -> bool:
    """True when one insertion, deletion, substitution or swap of neighbours turns a into b."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    if a[i + 1 :] == b[i + 1 :]:
        return True
    return a[i : i + 2] == b[i : i + 2][::-1] and a[i + 2 :] == b[i + 2 :]


def is_uuid(text: str) -> bool:
    return _UUID.fullmatch(text) is not None
