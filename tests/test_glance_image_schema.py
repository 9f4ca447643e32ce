"""The bundled copy of Glance's image schema (for offline validation) ships with the package and
says what the Glance service module relies on."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def _schema() -> dict[str, Any]:
    text = (
        resources.files("batch_ims.clouds.openstack")
        .joinpath("glance_image_schema.json")
        .read_text()
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def test_bundled_schema_marks_the_read_only_attributes() -> None:
    properties = _schema()["properties"]
    read_only = {name for name, spec in properties.items() if spec.get("readOnly")}
    assert read_only == {
        "status",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "size",
        "virtual_size",
        "created_at",
        "updated_at",
        "direct_url",
        "self",
        "file",
        "stores",
        "schema",
    }


def test_bundled_schema_types_enums_and_lengths() -> None:
    schema = _schema()
    properties = schema["properties"]
    assert properties["visibility"]["enum"] == ["community", "public", "private", "shared"]
    assert "qcow2" in properties["disk_format"]["enum"]
    assert "bare" in properties["container_format"]["enum"]
    assert (properties["min_ram"]["type"], properties["min_disk"]["type"]) == ("integer", "integer")
    assert (properties["protected"]["type"], properties["os_hidden"]["type"]) == (
        "boolean",
        "boolean",
    )
    assert properties["name"]["maxLength"] == 255
    assert schema["additionalProperties"] == {"type": "string"}
