"""Attribute rules as a value (IMS's by default, another service's when given) and the
warnings for extension attributes that look like typos of a known attribute."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from batch_ims.clouds.huawei.rules import IMS
from batch_ims.manifest import AttributeRules, AttributeWarning, load_manifest, validate_rows
from batch_ims.manifest.rules import one_edit_apart
from batch_ims.models import ImageTask, Op

A = "3f1c2a9e-5b7d-4c1e-9a2b-0c4d6e8f1a2b"
B = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("description", "__description"),
        ("support_kvm", "__support_kvm"),
        ("min_rm", "min_ram"),
        ("mni_ram", "min_ram"),
        ("nmae", "name"),
        ("hw_firmware_typ", "hw_firmware_type"),
        ("enterprise_project_ids", "enterprise_project_id"),
    ],
)
def test_ims_suggests_the_attribute_one_edit_away(written: str, meant: str) -> None:
    assert IMS.suggestion(written) == meant


@pytest.mark.parametrize("name", ["cost_center", "name", "__description", "status", "mn_rm"])
def test_no_suggestion_for_known_read_only_or_distant_names(name: str) -> None:
    assert IMS.suggestion(name) is None


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("abc", "abd", True), ("abc", "acb", True), ("abc", "abcd", True), ("abc", "cab", False)],
)
def test_one_edit_apart_is_damerau_levenshtein_distance_one(a: str, b: str, expected: bool) -> None:
    assert (one_edit_apart(a, b), one_edit_apart(b, a)) == (expected, expected)


def test_long_layout_typo_is_one_warning_with_file_row_and_column(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"image_id,path,value\n{A},name,web\n{A},description,x\n{B},description,y\n",
    )
    manifest = load_manifest(path, rules=IMS)
    assert [t.image_id for t in manifest.tasks] == [A, B]  # still sent: it is a valid name
    assert manifest.warnings == (
        AttributeWarning(str(path), 3, "path", "description", "__description", 2),
    )
    assert manifest.warnings[0].describe() == (
        f"{path}, row 3, column 'path': 'description' is not a known attribute and would be "
        "stored as an extension attribute; did you mean '__description'? (used in 2 rows)"
    )


def test_wide_layout_typo_warns_on_the_header(tmp_path: Path) -> None:
    path = _write(tmp_path, f"image_id,name,Support_KVM\n{A},web,true\n{B},db,\n")
    (warning,) = load_manifest(path, rules=IMS).warnings
    assert (warning.row, warning.column, warning.suggestion, warning.rows) == (
        1,
        "support_kvm",
        "__support_kvm",
        1,
    )


def test_strict_makes_the_rows_using_a_typo_invalid_instead(tmp_path: Path) -> None:
    path = _write(tmp_path, f"image_id,path,value\n{A},min_rm,1024\n{B},name,db\n")
    manifest = load_manifest(path, strict=True, rules=IMS)
    assert manifest.warnings == ()
    assert manifest.tasks == [ImageTask(B, (Op("replace", "/name", "db"),), (3,))]
    (item,) = manifest.invalid
    (error,) = item.errors
    assert (item.image_id, error.row, error.column, error.value) == (A, 2, "path", "min_rm")
    assert "did you mean 'min_ram'?" in error.message


def test_no_warnings_for_ordinary_extension_attributes(tmp_path: Path) -> None:
    path = _write(tmp_path, f"image_id,name,cost_center,env.stage\n{A},web,cc,prod\n")
    assert load_manifest(path, rules=IMS).warnings == ()


GLANCE_LIKE = AttributeRules(
    service="glance",
    read_only=frozenset({"id", "status", "checksum"}),
    text=frozenset({"name", "os_distro"}),
    booleans=frozenset({"protected"}),
    integers=frozenset({"min_ram", "min_disk"}),
    enums={"visibility": ("public", "private", "shared", "community")},
    max_lengths={"name": 255},
    system_prefix="os_glance_",
)


def test_other_rules_can_be_injected_into_loading_and_validation(tmp_path: Path) -> None:
    path = _write(tmp_path, f"image_id,min_disk,visibility,protected\n{A},20,Private,TRUE\n")
    manifest = load_manifest(path, rules=GLANCE_LIKE)
    assert manifest.invalid == []
    assert manifest.tasks[0].ops == (
        Op("add", "/min_disk", "20"),
        Op("add", "/visibility", "private"),
        Op("add", "/protected", "true"),
    )
    with pytest.raises(Exception, match="min_disk is read-only in IMS"):
        load_manifest(path, rules=IMS)


def test_validate_rows_takes_rules_too() -> None:
    rows = [(2, A, "add", "visibility", "nowhere"), (3, B, "add", "__description", "x")]
    tasks, invalid = validate_rows(rows, rules=GLANCE_LIKE)
    assert [i.image_id for i in invalid] == [A]
    assert "visibility must be one of" in invalid[0].errors[0].message
    assert [t.image_id for t in tasks] == [B]  # not a glance system attribute


def test_ims_rules_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        IMS.service = "glance"  # type: ignore[misc]
