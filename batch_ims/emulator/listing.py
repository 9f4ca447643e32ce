"""The image lists: IMS's ListImages (`GET /v2/cloudimages`) and Glance's `GET /v2/images`.

Both filter by equality on the parameters they know (`tag` by membership, `created_at` and
`updated_at` by `gt:`/`gte:`/`lt:`/`lte:`/`eq:`/`neq:` comparison), and page in insertion
order after `marker`, at most `limit` images, never more than the emulator's page cap
(`--page-cap`), as a real server caps what it is asked for. IMS knows only its documented
parameters and ignores any other; Glance takes any other as a property filter, hides
`os_hidden` images unless asked, and links the next page (`next`) whenever a page is full.
A page costs its own length plus the images it skips, never a pass over every image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from multidict import MultiMapping

from batch_ims.clouds.huawei.ims import LIST_FILTERS as IMS_FILTERS
from batch_ims.emulator.images import Image
from batch_ims.values import as_text

IMS_DEFAULT_LIMIT = 500
GLANCE_DEFAULT_LIMIT = 25
_PAGING = frozenset({"marker", "limit", "sort_key", "sort_dir", "sort"})
_TIMES = frozenset({"created_at", "updated_at"})
_COMPARE = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
}


class ListError(Exception):
    """A list request the service refuses (400), e.g. an unknown marker or a bad limit."""


@dataclass(frozen=True, slots=True)
class Listed:
    images: list[Image]
    next_link: str | None  # Glance's `next`; None for IMS and on a page that is not full


class ImageOrder:
    """Each image's place in insertion order, rebuilt only when images were added."""

    def __init__(self, images: Mapping[str, Image]) -> None:
        self._images = images
        self._ids: list[str] = []
        self._places: dict[str, int] = {}

    def ids_after(self, marker: str | None) -> tuple[list[str], int]:
        if len(self._ids) != len(self._images):
            self._ids = list(self._images)
            self._places = {image_id: place for place, image_id in enumerate(self._ids)}
        if marker is None:
            return self._ids, 0
        place = self._places.get(marker)
        if place is None:
            raise ListError(f"marker {marker} not found")
        return self._ids, place + 1


def list_page(
    images: Mapping[str, Image],
    order: ImageOrder,
    query: MultiMapping[str],
    *,
    glance: bool,
    page_cap: int,
) -> Listed:
    limit = _limit(query.get("limit"), GLANCE_DEFAULT_LIMIT if glance else IMS_DEFAULT_LIMIT)
    size = min(limit, page_cap)
    filters = [
        (key, query.getall(key))
        for key in dict.fromkeys(query)
        if key not in _PAGING and (glance or key in IMS_FILTERS)
    ]
    ids, start = order.ids_after(query.get("marker"))
    hide_hidden = glance and "os_hidden" not in query
    found: list[Image] = []
    for image_id in ids[start:]:
        if len(found) >= size:
            break
        image = images[image_id]
        if hide_hidden and image.get("os_hidden") is True:
            continue
        if all(_holds(image, key, values) for key, values in filters):
            found.append(image)
    link = None
    if glance and found and len(found) == size:
        params = [(k, v) for k, v in query.items() if k != "marker"]
        link = "/v2/images?" + urlencode([*params, ("marker", found[-1]["id"])])
    return Listed(found, link)


def _limit(text: str | None, default: int) -> int:
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()):
        raise ListError(f"limit {text!r} is not a non-negative integer")
    return int(text)


def _holds(image: Image, key: str, values: list[str]) -> bool:
    value: Any = image.get(key, False) if key == "os_hidden" else image.get(key)
    present = key in image or key == "os_hidden"
    if key == "tag":
        tags = image.get("tags") or []
        return all(tag in tags for tag in values)
    for wanted in values:
        if key in _TIMES and ":" in wanted and wanted.split(":", 1)[0] in _COMPARE:
            operator, moment = wanted.split(":", 1)
            if value is None or not _COMPARE[operator](as_text(value), moment):
                return False
        elif not present or as_text(value) != wanted:
            return False
    return True
