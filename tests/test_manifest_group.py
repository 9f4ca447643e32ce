"""Bulk helpers of the manifest reader: they must equal their naive equivalents."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_ims.manifest import group
from batch_ims.manifest.group import build_many, factorize_strings, split_groups
from batch_ims.models import ImageTask, Op


@given(st.lists(st.integers(min_value=1, max_value=6), max_size=60))
def test_split_groups_equals_slicing_group_by_group(counts: list[int]) -> None:
    values = np.arange(sum(counts), dtype=np.int64)
    expected, start = [], 0
    for count in counts:
        expected.append(tuple(range(start, start + count)))
        start += count
    assert split_groups(values, np.asarray(counts, dtype=np.int64)) == expected


def test_split_groups_of_one_group_returns_one_tuple() -> None:
    assert split_groups(np.asarray(["a", "b"], dtype=object), np.asarray([2])) == [("a", "b")]


def test_build_many_equals_calling_the_constructor() -> None:
    values = ["a", "b", "c"]
    built = build_many(Op, 3, op="add", path="/name", value=values)
    assert built == [Op("add", "/name", v) for v in values]
    assert all(type(op) is Op for op in built)


def test_build_many_builds_frozen_instances() -> None:
    task = build_many(ImageTask, 1, image_id=["x"], ops=[()], rows=[(2,)])[0]
    assert task == ImageTask("x", (), (2,))
    with pytest.raises(AttributeError):
        task.image_id = "y"  # type: ignore[misc]


def test_build_many_refuses_missing_fields_and_post_init() -> None:
    @dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            raise AssertionError

    with pytest.raises(TypeError):
        build_many(Op, 1, op="add", path="/x")
    with pytest.raises(TypeError):
        build_many(Checked, 1, x=[1])


def test_factorize_strings_numbers_in_order_of_first_appearance() -> None:
    values = np.asarray(["b", "a", "b", "c", "a"], dtype=object)
    codes, texts = factorize_strings(values)
    assert (codes.tolist(), texts) == ([0, 1, 0, 2, 1], ["b", "a", "c"])


def test_factorize_strings_survives_a_hash_collision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(group, "hash", lambda text: 7, raising=False)
    codes, texts = factorize_strings(np.asarray(["x", "y", "x"], dtype=object))
    assert (codes.tolist(), texts) == ([0, 1, 0], ["x", "y"])


def test_factorize_strings_of_nothing() -> None:
    codes, texts = factorize_strings(np.asarray([], dtype=object))
    assert (len(codes), texts) == (0, [])
