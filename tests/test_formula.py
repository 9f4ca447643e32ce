"""batch_ims.formula: the undo manifest's apostrophe is reversible; the report's is shown."""

from __future__ import annotations

import pytest

from batch_ims.formula import mark, neutralise, unmark


@pytest.mark.parametrize(
    "value",
    ["=1+1", "+x", "-1", "@SUM(A1)", "\tx", "'=x", "''+x", "'quoted'", "", "镜像名称", "a=b"],
)
def test_every_value_marked_is_read_back_exactly(value: str) -> None:
    assert unmark(mark(value)) == value


def test_marked_values_start_with_no_formula_character() -> None:
    assert [mark(v)[:1] for v in ("=1", "+1", "-1", "@1", "'=1")] == ["'"] * 5
    assert mark("镜像名称") == "镜像名称"


def test_the_report_only_prefixes_formula_cells() -> None:
    assert (neutralise("=1"), neutralise("'=1"), neutralise("x")) == ("'=1", "'=1", "x")
