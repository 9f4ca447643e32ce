"""Comparing an image's attributes with what the ops intend (verify, lost answers, skip)."""

from __future__ import annotations

import json
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


def parse_image(body: bytes) -> dict[str, Any] | None:
    """The image object from a PATCH answer or from `GET /v2/cloudimages?id=` (`images[0]`)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("images"), list):
        images = data["images"]
        return images[0] if images and isinstance(images[0], dict) else None
    return data if isinstance(data, dict) and "id" in data else None
