"""Layouts and row rules: what becomes a task, what is invalid, and why."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from batch_ims.clouds.huawei.rules import IMS
from batch_ims.errors import ManifestError
from batch_ims.manifest import Manifest, load_manifest, validate_rows
from batch_ims.models import ImageTask, InvalidItem, Op, RowError

A = "3f1c2a9e-5b7d-4c1e-9a2b-0c4d6e8f1a2b"
B = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
C = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"


def load(tmp_path: Path, text: str, name: str = "m.csv") -> Manifest:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_manifest(path, rules=IMS)


def messages(item: InvalidItem) -> list[tuple[int, str, str]]:
    return [(e.row, e.column, e.message) for e in item.errors]


# ---- long layout ----------------------------------------------------------------------------


def test_rows_of_one_image_merge_in_manifest_order_even_when_not_adjacent(tmp_path: Path) -> None:
    text = (
        "image_id,op,path,value\n"
        f"{A},replace,name,web-01\n"
        f"{B},add,__support_kvm,true\n"
        f"{A},add,/min_ram,2048\n"
        f"{B},remove,old_tag,\n"
        f"{A},remove,/old_tag,\n"
    )
    manifest = load(tmp_path, text)
    assert manifest.tasks == [
        ImageTask(
            A,
            (
                Op("replace", "/name", "web-01"),
                Op("add", "/min_ram", "2048"),
                Op("remove", "/old_tag"),
            ),
            (2, 4, 6),
        ),
        ImageTask(B, (Op("add", "/__support_kvm", "true"), Op("remove", "/old_tag")), (3, 5)),
    ]
    assert (manifest.layout, manifest.invalid, manifest.row_count) == ("long", [], 5)


def test_image_ids_in_any_case_or_padding_are_one_image(tmp_path: Path) -> None:
    text = f"image_id,path,value\n {A.upper()} ,name,a\n{A},min_ram,1\n"
    manifest = load(tmp_path, text)
    assert [(t.image_id, t.rows) for t in manifest.tasks] == [(A, (2, 3))]


def test_op_column_may_be_missing_or_empty_meaning_replace(tmp_path: Path) -> None:
    without = load(tmp_path, f"image_id,path,value\n{A},name,x\n", "a.csv")
    empty = load(tmp_path, f"image_id,op,path,value\n{A},,name,x\n", "b.csv")
    assert without.tasks[0].ops == empty.tasks[0].ops == (Op("replace", "/name", "x"),)


def test_op_is_read_in_any_case(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"image_id,op,path,value\n{A}, ADD ,tag,x\n")
    assert manifest.tasks[0].ops == (Op("add", "/tag", "x"),)


def test_remove_ignores_a_value_given_with_it(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"image_id,op,path,value\n{A},remove,tag,old\n")
    assert manifest.tasks[0].ops == (Op("remove", "/tag"),)


def test_empty_value_is_the_empty_string_valid_for_description_not_for_name(
    tmp_path: Path,
) -> None:
    text = f"image_id,path,value\n{A},__description,\n{B},name,\n"
    manifest = load(tmp_path, text)
    assert manifest.tasks == [ImageTask(A, (Op("replace", "/__description", ""),), (2,))]
    assert messages(manifest.invalid[0]) == [
        (3, "value", "name cannot be empty or blank; give 1 to 128 characters")
    ]


def test_without_a_value_column_only_remove_rows_are_valid(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"image_id,op,path\n{A},remove,tag\n{B},add,tag\n")
    assert manifest.tasks == [ImageTask(A, (Op("remove", "/tag"),), (2,))]
    assert messages(manifest.invalid[0]) == [
        (3, "value", "add and replace need a value, but the manifest has no value column")
    ]


def test_extra_columns_are_ignored(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"comment,image_id,path,value,owner\nhi,{A},name,x,me\n")
    assert manifest.tasks[0].ops == (Op("replace", "/name", "x"),)


def test_each_invalid_row_names_row_column_value_and_what_is_valid(tmp_path: Path) -> None:
    text = (
        "image_id,op,path,value\n"
        f"{A},delete,name,x\n"
        f"{B},add,status,active\n"
        f"{C},replace,min_ram,-1\n"
    )
    manifest = load(tmp_path, text)
    assert manifest.tasks == []
    first, second, third = manifest.invalid
    assert first.errors[0] == RowError(
        2, "op", "delete", "op must be add, replace or remove (an empty cell means replace)"
    )
    assert (second.errors[0].row, second.errors[0].column, second.errors[0].value) == (
        3,
        "path",
        "status",
    )
    assert second.errors[0].message.startswith("status is read-only in IMS; modifiable: ")
    assert third.errors[0].message == (
        "min_ram must be a whole number of megabytes from 0 to 2147483647, digits only"
    )


def test_an_image_with_one_invalid_row_is_not_sent_and_lists_all_its_rows(tmp_path: Path) -> None:
    text = f"image_id,path,value\n{A},name,ok\n{B},name,fine\n{A},hw_firmware_type,efi\n"
    manifest = load(tmp_path, text)
    assert [t.image_id for t in manifest.tasks] == [B]
    (item,) = manifest.invalid
    assert (item.image_id, item.rows, item.ops) == (A, (2, 4), (Op("replace", "/name", "ok"),))
    assert messages(item) == [(4, "value", "hw_firmware_type must be one of: bios, uefi")]


def test_row_whose_image_id_is_not_a_uuid_is_its_own_invalid_item(tmp_path: Path) -> None:
    text = f"image_id,path,value\nweb-01,name,a\n{A},name,b\nweb-01,name,c\n,name,d\n"
    manifest = load(tmp_path, text)
    assert [t.image_id for t in manifest.tasks] == [A]
    assert [(i.image_id, i.rows) for i in manifest.invalid] == [
        ("web-01", (2,)),
        ("web-01", (4,)),
        ("", (5,)),
    ]
    assert manifest.invalid[2].errors[0].message.startswith("image_id is empty")


def test_bad_id_row_also_reports_its_other_errors(tmp_path: Path) -> None:
    manifest = load(tmp_path, "image_id,op,path,value\nnope,zap,id,x\n")
    assert [e.column for e in manifest.invalid[0].errors] == ["image_id", "op", "path"]


def test_identical_repeats_merge_into_one_op_keeping_both_rows(tmp_path: Path) -> None:
    text = f"image_id,path,value\n{A},name,x\n{B},name,y\n{A},/name,x\n"
    manifest = load(tmp_path, text)
    assert manifest.tasks[0] == ImageTask(A, (Op("replace", "/name", "x"),), (2, 4))


def test_different_values_for_one_attribute_make_every_involved_row_invalid(
    tmp_path: Path,
) -> None:
    text = (
        "image_id,op,path,value\n"
        f"{A},replace,name,x\n"
        f"{A},add,tag,t\n"
        f"{A},replace,name,y\n"
        f"{A},add,name,x\n"
    )
    manifest = load(tmp_path, text)
    assert manifest.tasks == []
    (item,) = manifest.invalid
    expected = (
        "name is changed differently for this image in rows 2, 4, 5; "
        "keep one change per image and attribute"
    )
    assert messages(item) == [
        (2, "value", expected),
        (4, "value", expected),
        (5, "value", expected),
    ]
    assert item.ops == (Op("add", "/tag", "t"),)
    assert item.rows == (2, 3, 4, 5)


def test_remove_and_add_of_one_attribute_conflict(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"image_id,op,path,value\n{A},remove,tag,\n{A},add,tag,x\n")
    assert [e.row for e in manifest.invalid[0].errors] == [2, 3]


def test_attribute_path_cannot_carry_a_header_or_a_second_segment(tmp_path: Path) -> None:
    text = f'image_id,path,value\n{A},"tag\r\nX-Evil: 1",x\n{B},a/b,x\n'
    manifest = load(tmp_path, text)
    assert manifest.tasks == []
    assert [i.errors[0].column for i in manifest.invalid] == ["path", "path"]


# ---- wide layout ----------------------------------------------------------------------------


def test_wide_layout_adds_non_empty_cells_removes_marked_ones_and_skips_empty_ones(
    tmp_path: Path,
) -> None:
    text = (
        "image_id,name,/min_ram,__support_kvm,old_tag\n"
        f"{A},web-01,1024,TRUE,<remove>\n"
        f"{B},,,  , \n"
        f"{C},db,, ,\n"
    )
    manifest = load(tmp_path, text)
    assert manifest.layout == "wide"
    assert manifest.tasks == [
        ImageTask(
            A,
            (
                Op("add", "/name", "web-01"),
                Op("add", "/min_ram", "1024"),
                Op("add", "/__support_kvm", "true"),
                Op("remove", "/old_tag"),
            ),
            (2,),
        ),
        ImageTask(C, (Op("add", "/name", "db"),), (4,)),
    ]
    assert [(i.image_id, i.rows) for i in manifest.invalid] == [(B, (3,))]


def test_wide_remove_marker_is_trimmed_and_case_insensitive(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"image_id,old_tag\n{A}, <REMOVE> \n")
    assert manifest.tasks[0].ops == (Op("remove", "/old_tag"),)


def test_wide_row_that_changes_nothing_is_invalid(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"image_id,name,tag\n{A},,\n{B},x,\n")
    assert [t.image_id for t in manifest.tasks] == [B]
    assert messages(manifest.invalid[0]) == [
        (2, "(all attributes)", "nothing to change: every attribute cell of this row is empty")
    ]


def test_wide_columns_headed_with_a_hash_are_for_people_and_never_sent(tmp_path: Path) -> None:
    text = (
        f"image_id,name,#status,# 备注,#__os_type\n{A},web,active,生产环境,Linux\n{B},,queued,x,\n"
    )
    manifest = load(tmp_path, text)
    assert manifest.tasks == [ImageTask(A, (Op("add", "/name", "web"),), (2,))]
    # a row with only #columns filled changes nothing, like an empty one
    assert messages(manifest.invalid[0])[0][1:] == (
        "(all attributes)",
        "nothing to change: every attribute cell of this row is empty",
    )


def test_wide_rows_of_one_image_merge_and_conflicts_name_the_column(tmp_path: Path) -> None:
    text = f"image_id,name,tag\n{A},x,\n{B},y,1\n{A},,t\n{B},z,\n"
    manifest = load(tmp_path, text)
    assert manifest.tasks == [
        ImageTask(A, (Op("add", "/name", "x"), Op("add", "/tag", "t")), (2, 4))
    ]
    (item,) = manifest.invalid
    assert [(e.row, e.column) for e in item.errors] == [(3, "name"), (5, "name")]


def test_wide_headers_are_case_insensitive_as_the_readme_promises(tmp_path: Path) -> None:
    text = f"IMAGE_ID,Name,Min_RAM,__Support_KVM,Cost_Center\n{A},web,2048,TRUE,cc-1\n"
    manifest = load(tmp_path, text)
    assert manifest.invalid == []
    assert manifest.tasks == [
        ImageTask(
            A,
            (
                Op("add", "/name", "web"),
                Op("add", "/min_ram", "2048"),
                Op("add", "/__support_kvm", "true"),
                Op("add", "/cost_center", "cc-1"),
            ),
            (2,),
        )
    ]


@pytest.mark.parametrize(
    ("header", "column", "problem"),
    [
        ("status", "C", "status is read-only in IMS"),
        ("bad/attr", "C", "one segment of a-z"),
        ("__suport_kvm", "C", "names starting with '__' are IMS system attributes"),
    ],
)
def test_wide_header_that_is_no_attribute_is_one_error_on_the_header_row(
    tmp_path: Path, header: str, column: str, problem: str
) -> None:
    text = f"image_id,name,{header}\n{A},a,\n{B},b,x\n{C},c,y\n"
    with pytest.raises(ManifestError) as caught:
        load(tmp_path, text)
    error = caught.value
    assert (error.row, error.column) == (1, column)
    assert f"the header {header!r} is not an attribute that can be changed" in error.problem
    assert problem in error.problem


def test_wide_layout_with_op_column_but_no_path_column_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="column 'op' but no 'path' column"):
        load(tmp_path, f"image_id,op,value\n{A},add,x\n")


# ---- programmatic rows ----------------------------------------------------------------------


def test_validate_rows_gives_the_same_result_as_a_file() -> None:
    tasks, invalid = validate_rows(
        [(2, A, "add", "tag", "x"), (3, "bad", "add", "tag", "y"), (4, A, "", "/name", "n")],
        rules=IMS,
    )
    assert tasks == [ImageTask(A, (Op("add", "/tag", "x"), Op("replace", "/name", "n")), (2, 4))]
    assert [(i.image_id, i.rows) for i in invalid] == [("bad", (3,))]


def test_validate_rows_of_nothing_is_nothing() -> None:
    assert validate_rows([], rules=IMS) == ([], [])


def test_wide_row_with_a_bad_id_and_nothing_to_change_is_still_reported(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"image_id,name\n{A},x\nweb-01,\n")
    assert [(i.image_id, i.rows) for i in manifest.invalid] == [("web-01", (3,))]
    assert [e.column for e in manifest.invalid[0].errors] == ["image_id", "(all attributes)"]


def test_long_layout_with_an_attribute_column_is_refused_as_mixed_layouts(
    tmp_path: Path,
) -> None:
    with pytest.raises(ManifestError, match="column 'name' is an attribute, but a manifest"):
        load(tmp_path, f"image_id,path,value,name\n{A},tag,x,web\n")


def test_reading_is_logged_with_the_detected_encoding_and_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    text = f"image_id;path;value\n{A};name;生产环境镜像\n{A};__description;数据库主库，勿删\n"
    path.write_bytes(text.encode("gb18030"))
    with capture_logs() as logs:
        load_manifest(path, rules=IMS)
    (event,) = [e for e in logs if e["event"] == "manifest.read"]
    assert (event["encoding"], event["delimiter"], event["rows"], event["images"]) == (
        "gb18030",
        ";",
        2,
        1,
    )


def test_wide_cell_under_an_empty_header_is_a_file_error_naming_its_column(
    tmp_path: Path,
) -> None:
    with pytest.raises(ManifestError, match=r"row 3, column 'C': this cell is in a column without"):
        load(tmp_path, f"image_id,name,\n{A},x,\n{B},y,oops\n")


def test_wide_column_with_an_empty_header_and_no_cells_is_ignored(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"image_id,name,,\n{A},x,,\n")
    assert manifest.tasks == [ImageTask(A, (Op("add", "/name", "x"),), (2,))]


def test_reading_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path) -> None:
    assert gc.isenabled()
    load(tmp_path, f"image_id,path,value\n{A},name,x\n")
    assert gc.isenabled()
    gc.disable()
    try:
        load(tmp_path, f"image_id,path,value\n{A},name,x\n", "b.csv")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_wide_remove_of_name_shows_the_cell_not_the_header(tmp_path: Path) -> None:
    manifest = load(tmp_path, f"image_id,name\n{A},<remove>\n")
    assert [(row, column, value) for row, column, value, _ in _errors(manifest)] == [
        (2, "name", "<remove>")
    ]


def _errors(manifest: Manifest) -> list[tuple[int, str, str, str]]:
    return [(e.row, e.column, e.value, e.message) for i in manifest.invalid for e in i.errors]
