"""batch_ims.emulator.listing: IMS's and Glance's image lists, filtered, capped and paged."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import MultiDict

from batch_ims.emulator.images import Image, new_image
from batch_ims.emulator.listing import ImageOrder, Listed, ListError, list_page


def _uuid(n: int) -> str:
    return f"{n:08x}-1111-4222-8333-444455556666"


def _images(count: int, **extra: Any) -> dict[str, Image]:
    images = {}
    for n in range(count):
        image = new_image(_uuid(n), f"image-{n}")
        image.update({k: v(n) if callable(v) else v for k, v in extra.items()})
        images[image["id"]] = image
    return images


def _list(
    images: dict[str, Image], *, glance: bool = False, cap: int = 1000, **query: Any
) -> Listed:
    pairs = [
        (k, v)
        for k, values in query.items()
        for v in (values if isinstance(values, list) else [values])
    ]
    return list_page(images, ImageOrder(images), MultiDict(pairs), glance=glance, page_cap=cap)


def test_a_page_is_capped_below_the_limit_asked_for_and_starts_after_the_marker() -> None:
    images = _images(10)

    first = _list(images, cap=3, limit="50")
    second = _list(images, cap=3, limit="50", marker=first.images[-1]["id"])

    assert [i["id"] for i in first.images] == [_uuid(n) for n in range(3)]
    assert [i["id"] for i in second.images] == [_uuid(n) for n in range(3, 6)]
    assert first.next_link is None  # IMS links no next page


def test_ims_filters_by_its_documented_parameters_and_ignores_others() -> None:
    images = _images(6, __os_type=lambda n: "Linux" if n % 2 else "Windows")

    listed = _list(images, __os_type="Linux", colour="blue", limit="2")

    assert [i["id"] for i in listed.images] == [_uuid(1), _uuid(3)]


def test_a_filtered_page_skips_non_matching_images_up_to_the_limit() -> None:
    images = _images(9, status=lambda n: "active" if n % 3 == 0 else "queued")

    listed = _list(images, status="active", limit="2")
    rest = _list(images, status="active", limit="2", marker=listed.images[-1]["id"])

    assert [i["id"] for i in listed.images] == [_uuid(0), _uuid(3)]
    assert [i["id"] for i in rest.images] == [_uuid(6)]


def test_glance_links_the_next_page_while_pages_are_full_keeping_the_filters() -> None:
    images = _images(5)

    full = _list(images, glance=True, cap=2, limit="10", name="image-1")
    paged = _list(images, glance=True, cap=2, limit="10")
    last = _list(images, glance=True, cap=2, limit="10", marker=_uuid(3))

    assert [i["id"] for i in full.images] == [_uuid(1)]
    assert full.next_link is None  # one image, the page is not full
    assert paged.next_link == f"/v2/images?limit=10&marker={_uuid(1)}"
    assert [i["id"] for i in last.images] == [_uuid(4)]
    assert last.next_link is None


def test_glance_hides_os_hidden_images_unless_asked_and_filters_by_any_property() -> None:
    images = _images(4, os_hidden=lambda n: n == 0, tier=lambda n: "金" if n == 2 else "银")

    assert [i["id"] for i in _list(images, glance=True).images] == [_uuid(1), _uuid(2), _uuid(3)]
    assert [i["id"] for i in _list(images, glance=True, os_hidden="true").images] == [_uuid(0)]
    assert [i["id"] for i in _list(images, glance=True, tier="金").images] == [_uuid(2)]


def test_tags_filter_by_membership_and_times_by_comparison() -> None:
    images = _images(
        3, tags=lambda n: ["web"] if n else [], created_at=lambda n: f"2024-0{n + 1}-01T00:00:00Z"
    )

    tagged = _list(images, tag="web")
    recent = _list(images, created_at="gte:2024-02-01T00:00:00Z")

    assert [i["id"] for i in tagged.images] == [_uuid(1), _uuid(2)]
    assert [i["id"] for i in recent.images] == [_uuid(1), _uuid(2)]


@pytest.mark.parametrize(
    ("key", "value", "says"), [("marker", _uuid(99), "not found"), ("limit", "-1", "limit")]
)
def test_an_unknown_marker_or_a_bad_limit_is_refused(key: str, value: str, says: str) -> None:
    images = _images(2)
    with pytest.raises(ListError, match=says):
        list_page(images, ImageOrder(images), MultiDict([(key, value)]), glance=False, page_cap=9)
