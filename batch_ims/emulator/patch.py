"""JSON Patch as IMS applies it to an image: validated first, then applied all or nothing.

IMS relays OpenStack Glance's patch checks. Status codes follow Glance (403 read-only,
409 replace/remove of a missing attribute); IMS documents no specific error code for
those cases, so the emulator answers them with IMS's generic `IMG.0001` and a
Glance-like message. The length checks use IMS's documented IMG.0002/IMG.0004.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from batch_ims.emulator.images import READ_ONLY_ATTRIBUTES, Image

_OPS = frozenset({"add", "replace", "remove"})
_BOOLEAN = frozenset(
    {
        "__support_kvm",
        "__support_xen",
        "__support_diskintensive",
        "__support_highperformance",
        "__is_config_init",
        "hw_vif_multiqueue_enabled",
    }
)
_NOT_REMOVABLE = frozenset({"name", "min_ram"})


class PatchError(Exception):
    """The request is refused; nothing was applied."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class PatchOp:
    op: Literal["add", "replace", "remove"]
    attribute: str
    value: str | None


def parse_ops(body: object, *, typed: bool = False) -> list[PatchOp]:
    """The request body as ops; 400 when it is not a list of well-formed ops.

    `typed` (the Glance API): integer and boolean values are accepted, as Glance's schema
    wants them, and checked as their text.
    """
    if not isinstance(body, list) or not body:
        raise _bad_request("The request body must be a non-empty JSON array of operations.")
    return [_parse_op(item, typed=typed) for item in body]


def _parse_op(item: object, *, typed: bool) -> PatchOp:
    if not isinstance(item, dict):
        raise _bad_request("Each operation must be a JSON object.")
    op, path = item.get("op"), item.get("path")
    if op not in _OPS:
        raise _bad_request(f"Invalid operation {op!r}: must be add, replace or remove.")
    if not isinstance(path, str) or not path.startswith("/") or "/" in path[1:] or path == "/":
        raise _bad_request(f"Invalid path {path!r}: must be '/<attribute>'.")
    if op == "remove":
        return PatchOp("remove", path[1:], None)
    value = item.get("value")
    if typed and isinstance(value, bool):
        value = "true" if value else "false"
    elif typed and isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise _bad_request(f"The value of {path} must be a string.")
    return PatchOp(op, path[1:], value)


def apply_ops(image: Image, ops: list[PatchOp], *, updated_at: str) -> Image:
    """A new image with every op applied in order; raises `PatchError` if any op fails."""
    patched = dict(image)
    for op in ops:
        _apply_one(patched, op)
    patched["updated_at"] = updated_at
    return patched


def _apply_one(image: Image, op: PatchOp) -> None:
    name = op.attribute
    if name in READ_ONLY_ATTRIBUTES:
        raise PatchError(403, "IMG.0001", f"Attribute '{name}' is read-only.")
    if op.op == "remove":
        if name in _NOT_REMOVABLE:
            raise PatchError(403, "IMG.0001", f"Attribute '{name}' cannot be removed.")
        if name not in image:
            raise PatchError(409, "IMG.0001", f"Property '{name}' does not exist.")
        del image[name]
        return
    if op.op == "replace" and name not in image:
        raise PatchError(409, "IMG.0001", f"Property '{name}' does not exist.")
    image[name] = _checked_value(name, op.value or "")


def _checked_value(name: str, value: str) -> object:
    """The value as IMS stores it (min_ram is an integer), or 400 when IMS would refuse it."""
    if name != name.lower():
        raise _bad_request(f"Attribute name '{name}' must not contain uppercase letters.")
    if name == "name":
        if not value or value != value.strip():
            raise PatchError(400, "IMG.0003", "The image name format is invalid.")
        if len(value) > 128:
            raise PatchError(400, "IMG.0002", "The image name contains more than 128 characters.")
    elif name == "__description" and len(value) > 1024:
        raise PatchError(400, "IMG.0004", "The description contains more than 1024 characters.")
    elif name == "min_ram":
        if not (value.isascii() and value.isdigit()):
            raise _bad_request("min_ram must be a non-negative integer.")
        return int(value)
    elif name == "hw_firmware_type" and value not in ("bios", "uefi"):
        raise _bad_request("hw_firmware_type must be bios or uefi.")
    elif name in _BOOLEAN and value not in ("true", "false"):
        raise _bad_request(f"{name} must be true or false.")
    return value


def _bad_request(message: str) -> PatchError:
    return PatchError(400, "IMG.0001", message)
