"""Which image attributes a PATCH may touch, and which values each accepts.

Pure functions and constants, no pandas: the emulator and the `plan` command reuse them.

Sources: IMS API reference, "Updating Image Information" (PATCH /v2/cloudimages/{image_id})
and "Image Attributes". Decisions this module makes, beyond the documented rules:

* Names starting with ``__`` are IMS system attributes. Only the documented modifiable ones are
  accepted; any other ``__`` name is refused (a typo such as ``__suport_kvm`` would otherwise
  become a junk extension attribute).
* No value may hold a control character (U+0000-U+001F, U+007F) other than a tab, nor a lone
  surrogate; ``name`` may not hold a tab either, nor start or end with white space.
  IMS refuses carriage returns in ``__description``; a line feed is refused everywhere too.
* Integer attributes (``min_ram``, ``max_ram``) are ASCII decimal digits, no sign, at most
  2**31 - 1, sent without leading zeros. Booleans and enumerations are trimmed and lower-cased.
"""

from __future__ import annotations

import re
from typing import Final

from batch_ims.models import OpName

READ_ONLY_ATTRIBUTES: Final = frozenset(
    {
        "id", "status", "owner", "visibility", "checksum", "size", "virtual_size",
        "created_at", "updated_at", "deleted", "deleted_at", "self", "file", "schema",
        "protected", "disk_format", "container_format", "min_disk", "tags", "locations",
        "direct_url", "os_hash_algo", "os_hash_value", "os_hidden", "virtual_env_type",
        "__imagetype", "__platform", "__os_type", "__os_version", "__os_bit",
        "__isregistered", "__originalimagename", "__backup_id", "__productcode",
        "__image_size", "__data_origin", "__root_origin", "__image_source_type",
        "__image_location", "__lazyloading", "__system__cmkid", "__system_encrypted",
        "__whole_image", "__account_code", "__sequence_num", "__os_feature_list",
        "__is_offshelved", "__support_agent_list",
    }
)  # fmt: skip

BOOLEAN_ATTRIBUTES: Final = frozenset(
    {
        "__support_kvm", "__support_xen", "__support_diskintensive",
        "__support_highperformance", "__support_largememory", "__support_xen_hana",
        "__is_config_init", "hw_vif_multiqueue_enabled",
    }
)  # fmt: skip
INTEGER_ATTRIBUTES: Final = frozenset({"min_ram", "max_ram"})  # megabytes
ENUM_ATTRIBUTES: Final[dict[str, tuple[str, ...]]] = {"hw_firmware_type": ("bios", "uefi")}
MAX_LENGTHS: Final[dict[str, int]] = {"name": 128, "__description": 1024}
MODIFIABLE_SYSTEM_ATTRIBUTES: Final = frozenset(
    {
        "name", "__description", "__support_xen_gpu_type", "__support_kvm_gpu_type",
        "enterprise_project_id",
    }
    | BOOLEAN_ATTRIBUTES
    | INTEGER_ATTRIBUTES
    | ENUM_ATTRIBUTES.keys()
)  # fmt: skip
UNREMOVABLE_ATTRIBUTES: Final = frozenset({"name"})

MAX_ATTRIBUTE_NAME_LENGTH: Final = 255
MAX_INTEGER: Final = 2**31 - 1
REMOVE_CELL: Final = "<remove>"  # the wide layout's marker for `remove`
OP_NAMES: Final[tuple[OpName, ...]] = ("add", "replace", "remove")

_NAME_OK = re.compile(r"[a-z0-9_.:\-]+")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_OR_TAB = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_UUID_HINT = "a UUID: 8-4-4-4-12 hexadecimal digits, e.g. 3f1c2a9e-5b7d-4c1e-9a2b-0c4d6e8f1a2b"


def normalize_image_id(raw: str) -> str | None:
    """The canonical (lower-case, trimmed) form of an image id, or None if it is not a UUID."""
    text = raw.strip().lower()
    return text if _UUID.fullmatch(text) else None


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


def attribute_error(name: str) -> str | None:
    """Why `name` may not be patched, or None when it may."""
    if not name:
        return "no attribute named; give one such as name, __description or min_ram"
    if len(name) > MAX_ATTRIBUTE_NAME_LENGTH:
        return f"attribute names have at most {MAX_ATTRIBUTE_NAME_LENGTH} characters"
    if name in READ_ONLY_ATTRIBUTES:
        return f"{name} is read-only in IMS; modifiable: {_modifiable_hint()}"
    if not _NAME_OK.fullmatch(name):
        lowered = name.lower()
        if lowered != name and _NAME_OK.fullmatch(lowered):
            return f"attribute names must be lower-case (IMS rule); did you mean {lowered!r}?"
        return (
            "an attribute name is one segment of a-z, 0-9, '_', '-', '.' or ':' "
            "(no '/', spaces or other characters)"
        )
    if name.startswith("__") and name not in MODIFIABLE_SYSTEM_ATTRIBUTES:
        return (
            f"names starting with '__' are IMS system attributes; modifiable: {_modifiable_hint()}"
        )
    return None


def remove_error(name: str) -> str | None:
    """Why `name` may not be removed, or None."""
    if name in UNREMOVABLE_ATTRIBUTES:
        return f"{name} cannot be removed; use replace to change it"
    return None


def check_value(name: str, value: str) -> tuple[str, str | None]:
    """Normalise `value` for attribute `name`: (value to send, None) or (value, why invalid)."""
    if name in BOOLEAN_ATTRIBUTES:
        text = value.strip().lower()
        if text in ("true", "false"):
            return text, None
        return value, f"{name} must be true or false"
    if name in INTEGER_ATTRIBUTES:
        return _check_integer(name, value)
    choices = ENUM_ATTRIBUTES.get(name)
    if choices is not None:
        text = value.strip().lower()
        if text in choices:
            return text, None
        return value, f"{name} must be one of: {', '.join(choices)}"
    if name == "enterprise_project_id":
        text = value.strip().lower()
        if text == "0" or _UUID.fullmatch(text):
            return text, None
        return value, "enterprise_project_id must be 0 (the default project) or " + _UUID_HINT
    return value, _text_error(name, value)


def _check_integer(name: str, value: str) -> tuple[str, str | None]:
    text = value.strip()
    if text.isascii() and text.isdigit() and int(text) <= MAX_INTEGER:
        return str(int(text)), None
    return value, f"{name} must be a whole number of megabytes from 0 to {MAX_INTEGER}, digits only"


def _text_error(name: str, value: str) -> str | None:
    limit = MAX_LENGTHS.get(name)
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


def _modifiable_hint() -> str:
    return ", ".join(sorted(MODIFIABLE_SYSTEM_ATTRIBUTES)) + " and lower-case extension attributes"
