"""batch_ims.export.where: the `--where` language, parsed and evaluated on image documents."""

from __future__ import annotations

from typing import Any

import pytest

from batch_ims.errors import UsageError
from batch_ims.export.where import parse_condition, parse_where, selected

IMAGE: dict[str, Any] = {
    "id": "0a7d6c1e-2b3f-4d5e-8f60-718293a4b5c1",
    "name": "web-centos7-生产",
    "__os_version": "CentOS 7.9 64bit",
    "min_ram": 2048,
    "__support_kvm": "true",
    "protected": False,
    "__description": "",
    "tags": ["web", "生产"],
}


@pytest.mark.parametrize(
    ("expression", "holds"),
    [
        ("name=web-centos7-生产", True),
        ("name=web", False),
        ("name!=web", True),
        ("name~web-*", True),
        ("name~WEB-*", False),  # a glob matches case as it is
        ("name!~db-*", True),
        ("__os_version~CentOS 7*", True),
        ("min_ram=2048", True),
        ("protected=false", True),  # booleans as the manifest writes them
        ("__description=", True),  # present and empty
        ("__description", True),
        ("!__description", False),
        ("!owner_team", True),
        ("owner_team", False),
        ("owner_team!=x", True),  # a missing property is not x either
        ("owner_team=x", False),
        ("owner_team~*", False),
        ("owner_team!~*", True),
        ("tags=生产", True),  # a list holds when one element does
        ("tags~w*", True),
        ("tags!=web", False),
        ("a=b=c", False),  # key a, value b=c
    ],
)
def test_each_operator_on_present_missing_typed_and_list_properties(
    expression: str, holds: bool
) -> None:
    assert parse_condition(expression).holds(IMAGE) is holds


def test_every_condition_must_hold() -> None:
    conditions = parse_where(["name~web-*", "min_ram=2048"])
    assert selected(IMAGE, conditions) is True
    assert selected(IMAGE, parse_where(["name~web-*", "min_ram=0"])) is False
    assert selected(IMAGE, ()) is True


def test_the_value_is_everything_after_the_operator() -> None:
    condition = parse_condition(" name = a=b ")
    assert (condition.key, condition.op, condition.value) == ("name", "=", " a=b ")


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("", "no property name"),
        ("=x", "no property name"),
        ("!", "no property name"),
        ("~web*", "no property name"),
        ("na me=x", "'na me' is not a property name"),
        ("!name=x", "'name=x' is not a property name"),
        ("名字=x", "'名字' is not a property name"),
    ],
)
def test_a_bad_expression_is_one_usage_error_naming_the_syntax(expression: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_condition(expression)
    message = str(caught.value)
    assert says in message
    assert message.startswith(f"--where {expression!r}: ")
    assert "KEY=VALUE, KEY!=VALUE, KEY~GLOB, KEY!~GLOB, KEY (present) or !KEY (missing)" in message
    assert "\n" not in message
