"""`--where`: which listed images an export keeps, decided on this side of the network.

One condition per `--where`; an image is kept when every condition holds. A condition is

    KEY=VALUE    the property's value is VALUE (`min_ram=0`, `__support_kvm=true`)
    KEY!=VALUE   it is not (a missing property is not VALUE either)
    KEY~GLOB     its value matches the glob (`*`, `?`, `[abc]`; whole value, case counts)
    KEY!~GLOB    it does not match (a missing property does not match)
    KEY          the property is present (an empty value counts)
    !KEY         the property is missing

Values are compared as the manifest writes them: booleans `true`/`false`, numbers in
digits. For a list property (`tags`), `=` and `~` hold when one element does. KEY is any
property name (letters, digits, `_ - . :`); everything after the operator is the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from batch_ims.errors import UsageError
from batch_ims.values import as_text

SYNTAX = "KEY=VALUE, KEY!=VALUE, KEY~GLOB, KEY!~GLOB, KEY (present) or !KEY (missing)"
_KEY = re.compile(r"[A-Za-z0-9_.:\-]+")
_CONDITION = re.compile(r"(?P<key>[^=~!]*)(?P<op>!=|!~|=|~)(?P<value>.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Condition:
    key: str
    op: str  # "=", "!=", "~", "!~", "present", "missing"
    value: str
    text: str

    def holds(self, image: Mapping[str, Any]) -> bool:
        if self.op == "present":
            return self.key in image
        if self.op == "missing":
            return self.key not in image
        negated = self.op.startswith("!")
        if self.key not in image:
            return negated
        values = image[self.key]
        texts = [as_text(v) for v in values] if isinstance(values, list) else [as_text(values)]
        match: Callable[[str], bool] = (
            (lambda text: text == self.value)
            if self.op.endswith("=")
            else (lambda text: fnmatchcase(text, self.value))
        )
        found = any(map(match, texts))
        return not found if negated else found


def parse_condition(text: str) -> Condition:
    """One `--where` expression, or UsageError (exit 2) saying what is wrong with it."""
    found = _CONDITION.fullmatch(text)
    if found is None:
        key, op = (text[1:], "missing") if text.startswith("!") else (text, "present")
        _check_key(text, key.strip())
        return Condition(key.strip(), op, "", text)
    key = found.group("key").strip()
    _check_key(text, key)
    return Condition(key, found.group("op"), found.group("value"), text)


def _check_key(text: str, key: str) -> None:
    if not key:
        raise UsageError(f"--where {text!r}: no property name; write {SYNTAX}")
    if not _KEY.fullmatch(key):
        raise UsageError(
            f"--where {text!r}: {key!r} is not a property name (letters, digits, "
            f"'_', '-', '.', ':'); write {SYNTAX}"
        )


def parse_where(texts: Sequence[str]) -> tuple[Condition, ...]:
    return tuple(parse_condition(text) for text in texts)


def selected(image: Mapping[str, Any], conditions: Sequence[Condition]) -> bool:
    return all(condition.holds(image) for condition in conditions)
