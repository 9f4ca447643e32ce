"""batch_ims.values: does an image already show what the ops intend?"""

from __future__ import annotations

from typing import Any

import pytest

from batch_ims.models import Op
from batch_ims.values import as_text, mismatches, op_holds

IMAGE: dict[str, Any] = {
    "id": "4f5a3d2e-1b0c-4a9e-8d7f-6c5b4a392817",
    "name": "web-01",
    "min_disk": 40,
    "min_ram": 0,
    "__support_kvm": True,
    "__isregistered": False,
    "__os_bit": "64",
    "description": None,
}


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (False, "false"), (None, ""), (40, "40"), (0, "0"), ("x", "x"), (1.5, "1.5")],
)
def test_as_text_renders_values_as_the_manifest_spells_them(value: object, text: str) -> None:
    assert as_text(value) == text


@pytest.mark.parametrize(
    ("op", "holds"),
    [
        (Op("replace", "/name", "web-01"), True),
        (Op("replace", "/name", "web-02"), False),
        (Op("replace", "/min_disk", "40"), True),
        (Op("replace", "/min_disk", "41"), False),
        (Op("replace", "/min_ram", "0"), True),
        (Op("replace", "/__support_kvm", "true"), True),
        (Op("replace", "/__support_kvm", "false"), False),
        (Op("add", "/__isregistered", "false"), True),
        (Op("add", "/__isregistered", "False"), False),
        (Op("add", "/hw_vif_multiqueue_enabled", "true"), False),
        (Op("replace", "/description", ""), True),
        (Op("remove", "/__os_bit"), False),
        (Op("remove", "/hw_vif_multiqueue_enabled"), True),
    ],
)
def test_op_holds_compares_numbers_and_bools_as_text(op: Op, holds: bool) -> None:
    assert op_holds(IMAGE, op) is holds


def test_mismatches_lists_attributes_not_yet_right_in_op_order() -> None:
    ops = (
        Op("replace", "/min_disk", "80"),
        Op("replace", "/name", "web-01"),
        Op("replace", "/__support_kvm", "false"),
        Op("remove", "/__os_bit"),
    )

    assert mismatches(IMAGE, ops) == ["min_disk", "__support_kvm", "__os_bit"]


def test_mismatches_judges_the_last_op_per_attribute() -> None:
    already = (Op("replace", "/name", "old"), Op("replace", "/name", "web-01"))
    not_yet = (Op("replace", "/name", "web-01"), Op("remove", "/name"))

    assert (mismatches(IMAGE, already), mismatches(IMAGE, not_yet)) == ([], ["name"])


def test_no_ops_means_no_mismatches() -> None:
    assert mismatches(IMAGE, ()) == []
