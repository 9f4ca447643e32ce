"""batch_ims.run.pipeline.fewer_collections: the collector's pace while images are sent."""

from __future__ import annotations

import gc

import pytest

from batch_ims.run.pipeline import fewer_collections


def test_the_youngest_generation_is_collected_less_often_inside_and_as_before_after() -> None:
    before = gc.get_threshold()

    with fewer_collections(12_345):
        inside = gc.get_threshold()

    assert inside == (12_345, *before[1:])
    assert gc.get_threshold() == before


def test_the_thresholds_come_back_when_the_send_raises() -> None:
    before = gc.get_threshold()

    with pytest.raises(RuntimeError), fewer_collections(12_345):
        raise RuntimeError("boom")

    assert gc.get_threshold() == before
