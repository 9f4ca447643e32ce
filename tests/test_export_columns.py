"""batch_ims.export.columns: which columns an export writes and each image's cells."""

from __future__ import annotations

from typing import Any

import pytest

from batch_ims.clouds.huawei.rules import IMS
from batch_ims.errors import UsageError
from batch_ims.export.columns import (
    CellMaker,
    ColumnChoice,
    ordered_columns,
    parse_choice,
    writable,
)
from batch_ims.manifest.attributes import check_value

IMAGE: dict[str, Any] = {
    "id": "0a7d6c1e-2b3f-4d5e-8f60-718293a4b5c1",
    "name": "web-01",
    "status": "active",
    "__os_type": "Linux",
    "__description": "生产环境 Web 镜像",
    "min_ram": 2048,
    "__support_kvm": "true",
    "hw_firmware_type": "BIOS",
    "owner_team": "平台组",
    "serial": "0001",
    "empty_note": "",
    "tags": ["a", "b"],
    "Bad-Name": "x",
}


@pytest.mark.parametrize(
    ("attribute", "value", "cell"),
    [
        ("min_ram", 2048, "2048"),
        ("__support_kvm", True, "true"),
        ("__support_kvm", "true", "true"),
        ("__description", "生产环境", "生产环境"),
        ("serial", "0001", "0001"),
        ("name", " padded ", None),  # the manifest refuses it
        ("hw_firmware_type", "BIOS", None),  # the manifest would send "bios": a change
        ("__support_kvm", "True", None),
        ("__description", "", None),  # empty: the cell leaves the attribute alone anyway
        ("__description", "line\nbreak", None),
        ("tags", ["a"], None),
        ("min_ram", None, None),
    ],
)
def test_a_cell_is_written_only_when_the_manifest_sends_it_back_unchanged(
    attribute: str, value: Any, cell: str | None
) -> None:
    assert writable(attribute, value, IMS) == cell
    if cell is not None:  # what a run would send is the image's value: nothing to change
        assert check_value(attribute, cell, IMS) == (cell, None)


def test_default_cells_are_every_changeable_attribute_the_image_holds() -> None:
    maker = CellMaker(ColumnChoice(None), IMS)

    cells = maker.cells(IMAGE)

    assert cells == {
        "name": "web-01",
        "__description": "生产环境 Web 镜像",
        "min_ram": "2048",
        "__support_kvm": "true",
        "owner_team": "平台组",
        "serial": "0001",
    }
    assert maker.left_empty == 1  # hw_firmware_type "BIOS"
    assert maker.first_left_empty == (IMAGE["id"], "hw_firmware_type")


def test_chosen_columns_context_set_and_unset() -> None:
    choice = parse_choice("name,#status,#tags", ["__support_kvm=FALSE"], ["owner_team"], IMS)
    maker = CellMaker(choice, IMS)

    cells = maker.cells(IMAGE)
    absent = maker.cells({"id": IMAGE["id"], "name": "db"})

    assert cells == {
        "name": "web-01",
        "__support_kvm": "false",  # normalised as a run sends it
        "owner_team": "<remove>",
        "#status": "active",
        "#tags": "a,b",
    }
    assert absent == {"name": "db", "__support_kvm": "false"}  # nothing to remove
    assert ordered_columns([*cells], choice) == [
        "name", "__support_kvm", "owner_team", "#status", "#tags",
    ]  # fmt: skip


def test_the_clouds_target_columns_are_never_attribute_columns() -> None:
    maker = CellMaker(ColumnChoice(None), IMS, reserved=("region", "project_id"))

    cells = maker.cells({"id": IMAGE["id"], "name": "web", "region": "cn-north-4"})

    assert cells == {"name": "web"}
    with pytest.raises(UsageError, match=r"--columns region: .*chooses the target"):
        parse_choice("name,region", [], [], IMS, reserved=("region",))
    with pytest.raises(UsageError, match=r"--set region: .*chooses the target"):
        parse_choice(None, ["region=cn-north-4"], [], IMS, reserved=("region",))
    assert parse_choice("#region", [], [], IMS, reserved=("region",)).context == ("region",)


def test_default_column_order_is_name_then_by_name() -> None:
    choice = parse_choice(None, ["zz_new=1"], [], IMS)
    assert ordered_columns(["min_ram", "name", "__description"], choice) == [
        "name", "__description", "min_ram", "zz_new",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("columns", "sets", "unsets", "says"),
    [
        ("status", [], [], "--columns status: not an attribute that can be changed"),
        ("status", [], [], "name it #status"),
        (" , ", [], [], "--columns is empty"),
        ("name,#", [], [], "'#' needs a property name"),
        (None, ["min_ram"], [], "expected ATTR=VALUE"),
        (None, ["min_ram=lots"], [], "--set min_ram=lots: min_ram must be a whole number"),
        (None, ["__description="], [], "an empty cell leaves an attribute alone"),
        (None, ["status=active"], [], "--set status: status is read-only"),
        (None, [], ["name"], "--unset name: name cannot be removed"),
        (None, ["tier=金"], ["tier"], "--set and --unset both name tier"),
    ],
)
def test_bad_choices_are_usage_errors(
    columns: str | None, sets: list[str], unsets: list[str], says: str
) -> None:
    with pytest.raises(UsageError, match=says):
        parse_choice(columns, sets, unsets, IMS)
