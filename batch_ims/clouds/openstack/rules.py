"""Glance's attribute rules, read from its own image schema (`GET /v2/schemas/image`).

A copy of the schema a current Glance serves is bundled (`glance_image_schema.json`) for
offline validation; `rules_from_schema` turns any such schema into `AttributeRules`:
read-only properties, enumerations, integers, booleans and string length limits, with
every other (extra) property free-form. Lists (`tags`, `locations`) are not values a
manifest cell can hold, so they are refused like read-only ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from batch_ims.manifest.rules import AttributeRules

# Glance keeps `os_glance_*` properties for itself: a user may not set them.
RESERVED_PREFIX = "os_glance_"
_ALWAYS_READ_ONLY = frozenset({"id", "self", "file", "schema", "locations", "tags"})


def _types(spec: Mapping[str, Any]) -> set[str]:
    kind = spec.get("type", "string")
    return set(kind) if isinstance(kind, list) else {str(kind)}


def rules_from_schema(schema: Mapping[str, Any]) -> AttributeRules:
    """The rules a Glance with this image schema enforces."""
    properties: Mapping[str, Mapping[str, Any]] = schema.get("properties", {})
    read_only, text, booleans, integers = set(_ALWAYS_READ_ONLY), set(), set(), set()
    enums: dict[str, tuple[str, ...]] = {}
    lengths: dict[str, int] = {}
    for name, spec in properties.items():
        types = _types(spec) - {"null"}
        if name in read_only or spec.get("readOnly") or types & {"array", "object"}:
            read_only.add(name)
        elif "enum" in spec:
            enums[name] = tuple(v for v in spec["enum"] if isinstance(v, str))
        elif types == {"boolean"}:
            booleans.add(name)
        elif types == {"integer"}:
            integers.add(name)
        else:
            text.add(name)
            if isinstance(spec.get("maxLength"), int):
                lengths[name] = int(spec["maxLength"])
    core = frozenset(text | booleans | integers | enums.keys())
    return AttributeRules(
        service="glance",
        read_only=frozenset(read_only),
        text=frozenset(text),
        booleans=frozenset(booleans),
        integers=frozenset(integers),
        enums=enums,
        max_lengths=lengths,
        unremovable=core,  # Glance removes extra properties only
        system_prefix=RESERVED_PREFIX,
    )


@cache
def bundled_schema() -> dict[str, Any]:
    text = (
        resources.files("batch_ims.clouds.openstack")
        .joinpath("glance_image_schema.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def bundled_rules() -> AttributeRules:
    """Rules from the schema bundled with batch-ims (offline `plan`, and before sign-in)."""
    return rules_from_schema(bundled_schema())
