"""Glance's attribute rules from its image schema, and the manifest validated with them."""

from __future__ import annotations

from pathlib import Path

from yarl import URL

from batch_ims.clouds.openstack.glance import GlanceService
from batch_ims.clouds.openstack.rules import bundled_rules, rules_from_schema
from batch_ims.manifest import load_manifest
from batch_ims.models import Op, ops_json
from tests.e2e.harness import write_csv

IMAGE = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"


def test_the_bundled_schema_gives_glances_read_only_enums_integers_and_booleans() -> None:
    rules = bundled_rules()

    assert {"status", "checksum", "size", "id", "tags", "locations"} <= rules.read_only
    assert rules.enums["visibility"] == ("community", "public", "private", "shared")
    assert "qcow2" in rules.enums["disk_format"]
    assert rules.integers == {"min_ram", "min_disk"}
    assert rules.booleans == {"protected", "os_hidden"}
    assert rules.max_lengths["name"] == 255


def test_a_schema_with_another_enum_value_accepts_it() -> None:
    schema = {"properties": {"disk_format": {"type": ["null", "string"], "enum": ["raw", "x"]}}}

    assert rules_from_schema(schema).enums["disk_format"] == ("raw", "x")


def test_a_manifest_is_validated_with_glances_rules(tmp_path: Path) -> None:
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            ["image_id", "op", "path", "value"],
            [IMAGE, "replace", "visibility", "bogus"],
            [IMAGE, "replace", "status", "active"],
            [IMAGE, "replace", "min_ram", "12x"],
            [IMAGE, "add", "hw_qemu_guest_agent", "yes"],
        ],
    )

    loaded = load_manifest(manifest, rules=bundled_rules())

    messages = [error.column + ": " + error.message for i in loaded.invalid for error in i.errors]
    assert len(messages) == 3, messages
    assert not loaded.tasks


def test_integers_and_booleans_are_sent_typed_and_extra_properties_as_text() -> None:

    ops = (
        Op("replace", "/min_ram", "2048"),
        Op("replace", "/protected", "true"),
        Op("add", "/hw_qemu_guest_agent", "yes"),
        Op("remove", "/owner_team"),
    )
    body = GlanceService(URL("http://127.0.0.1:9292")).body(ops, ops_json(ops))

    assert body == (
        b'[{"op":"replace","path":"/min_ram","value":2048},'
        b'{"op":"replace","path":"/protected","value":true},'
        b'{"op":"add","path":"/hw_qemu_guest_agent","value":"yes"},'
        b'{"op":"remove","path":"/owner_team"}]'
    )
