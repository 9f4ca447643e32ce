"""Comparing an image's attributes with what the ops intend (verify, lost answers, skip, diff)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_ims.models import Op


def as_text(value: Any) -> str:
    """IMS returns some attributes as numbers or booleans; the manifest holds text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def op_holds(image: Mapping[str, Any], op: Op) -> bool:
    """True when the image already shows the effect of `op`."""
    if op.op == "remove":
        return op.attribute not in image
    return op.attribute in image and as_text(image[op.attribute]) == (op.value or "")


def mismatches(image: Mapping[str, Any], ops: tuple[Op, ...]) -> list[str]:
    """Attributes whose final value differs from what the ops intend (last op per path wins)."""
    final: dict[str, Op] = {}
    for op in ops:
        final[op.attribute] = op
    return [attr for attr, op in final.items() if not op_holds(image, op)]
