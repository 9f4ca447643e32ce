"""Which image attributes a PATCH may touch, and which values each accepts.

Pure functions, no pandas: the emulator and the `plan` command reuse them. Each takes the
service's `AttributeRules` (`rules`), which the cloud gives. Decisions this module makes,
beyond each service's documented rules:

* Names starting with the rules' system prefix (``__``) are the service's system attributes.
  Only the documented modifiable ones are accepted; any other such name is refused (a typo
  such as ``__suport_kvm`` would otherwise become a junk extension attribute).
* No value may hold a control character (U+0000-U+001F, U+007F) other than a tab, nor a lone
  surrogate; ``name`` may not hold a tab either, nor start or end with white space.
  Carriage returns and line feeds are refused everywhere.
* Integer attributes (``min_ram``, ``max_ram``) are ASCII decimal digits, no sign, at most
  2**31 - 1, sent without leading zeros. Booleans and enumerations are trimmed and lower-cased.
"""

from __future__ import annotations

import re
from typing import Final

from batch_ims.manifest.rules import AttributeRules, is_uuid
from batch_ims.models import OpName

REMOVE_CELL: Final = "<remove>"  # the wide layout's marker for `remove`
OP_NAMES: Final[tuple[OpName, ...]] = ("add", "replace", "remove")

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_OR_TAB = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_UUID_HINT = "a UUID: 8-4-4-4-12 hexadecimal digits, e.g. 3f1c2a9e-5b7d-4c1e-9a2b-0c4d6e8f1a2b"


def normalize_image_id(raw: str) -> str | None:
    """The canonical (lower-case, trimmed) form of an image id, or None if it is not a UUID."""
    text = raw.strip().lower()
    return text if is_uuid(text) else None


def image_id_error(raw: str) -> str:
    """Why `raw` is not an image id (call only when `normalize_image_id` gave None)."""
    if not raw.strip():
        return f"image_id is empty; expected {_UUID_HINT}"
    return f"not an image id; expected {_UUID_HINT}"


def parse_op(raw: str) -> OpName | None:
    """`add`, `replace` or `remove` in any case, trimmed; an empty cell means `replace`."""
    text = raw.strip().lower()
    if not text:
        return "replace"
    for name in OP_NAMES:
        if text == name:
            return name
    return None


OP_ERROR: Final = "op must be add, replace or remove (an empty cell means replace)"


def parse_path(raw: str) -> str:
    """The attribute named by a path cell: trimmed, one leading '/' dropped."""
    text = raw.strip()
    return text[1:] if text.startswith("/") else text


def attribute_error(name: str, rules: AttributeRules) -> str | None:
    """Why `name` may not be patched, or None when it may."""
    if not name:
        return "no attribute named; give one such as name, __description or min_ram"
    if len(name) > rules.max_name_length:
        return f"attribute names have at most {rules.max_name_length} characters"
    if name in rules.read_only:
        return f"{name} is read-only in {rules.service.upper()}; modifiable: {_hint(rules)}"
    if not rules.extension_name.fullmatch(name):
        lowered = name.lower()
        if lowered != name and rules.extension_name.fullmatch(lowered):
            service = rules.service.upper()
            return f"attribute names must be lower-case ({service} rule); did you mean {lowered!r}?"
        return (
            "an attribute name is one segment of a-z, 0-9, '_', '-', '.' or ':' "
            "(no '/', spaces or other characters)"
        )
    if name.startswith(rules.system_prefix) and name not in rules.modifiable:
        return (
            f"names starting with {rules.system_prefix!r} are {rules.service.upper()} system "
            f"attributes; modifiable: {_hint(rules)}"
        )
    return None


def remove_error(name: str, rules: AttributeRules) -> str | None:
    """Why `name` may not be removed, or None."""
    if name in rules.unremovable:
        return f"{name} cannot be removed; use replace to change it"
    return None


def check_value(name: str, value: str, rules: AttributeRules) -> tuple[str, str | None]:
    """Normalise `value` for attribute `name`: (value to send, None) or (value, why invalid)."""
    if name in rules.booleans:
        text = value.strip().lower()
        if text in ("true", "false"):
            return text, None
        return value, f"{name} must be true or false"
    if name in rules.integers:
        return _check_integer(name, value, rules.max_integer)
    choices = rules.enums.get(name)
    if choices is not None:
        text = value.strip().lower()
        if text in choices:
            return text, None
        return value, f"{name} must be one of: {', '.join(choices)}"
    if name in rules.zero_or_uuid:
        text = value.strip().lower()
        if text == "0" or is_uuid(text):
            return text, None
        return value, f"{name} must be 0 (the default project) or " + _UUID_HINT
    return value, _text_error(name, value, rules)


def _check_integer(name: str, value: str, limit: int) -> tuple[str, str | None]:
    text = value.strip()
    if text.isascii() and text.isdigit() and int(text) <= limit:
        return str(int(text)), None
    return value, f"{name} must be a whole number of megabytes from 0 to {limit}, digits only"


def _text_error(name: str, value: str, rules: AttributeRules) -> str | None:
    limit = rules.max_lengths.get(name)
    if limit is not None and len(value) > limit:
        return f"{name} has {len(value)} characters; at most {limit} are allowed"
    control = (_CONTROL_OR_TAB if name == "name" else _CONTROL).search(value)
    if control is not None:
        return (
            f"contains the control character U+{ord(control.group()):04X}; "
            "remove line breaks and other control characters"
        )
    if _SURROGATE.search(value):
        return "contains an unpaired surrogate code point, which cannot be sent as UTF-8"
    if name == "name":
        if not value.strip():
            return "name cannot be empty or blank; give 1 to 128 characters"
        if value != value.strip():
            return "name cannot start or end with white space"
    return None


def _hint(rules: AttributeRules) -> str:
    return ", ".join(sorted(rules.modifiable)) + " and lower-case extension attributes"
