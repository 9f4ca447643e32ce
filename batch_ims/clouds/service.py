"""What the run asks of an image service: requests to send and how to read the answers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from yarl import URL

from batch_ims.manifest.rules import AttributeRules, is_uuid
from batch_ims.models import Op
from batch_ims.transport.apierror import ApiError
from batch_ims.transport.client import Request


def check_image_id(image_id: str) -> str:
    """The id, checked again before it reaches a URL: a canonical lowercase UUID."""
    if not is_uuid(image_id):
        raise ValueError("image id is not a canonical lowercase UUID")
    return image_id


class ImageUrls:
    """`collection/{image_id}` for any number of images: the collection's path is joined
    once, each image's URL is the collection's with one path swapped in (no parsing)."""

    def __init__(self, collection: URL) -> None:
        self._collection = collection
        self._prefix = collection.raw_path.rstrip("/") + "/"

    def __call__(self, image_id: str) -> URL:
        return self._collection.with_path(self._prefix + check_image_id(image_id), encoded=True)


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of the image list: its images, and the cursor of the next page (None: the
    last page). The cursor means something only to the service that made it."""

    images: list[dict[str, Any]]
    next: str | None


def list_answer(body: bytes) -> dict[str, Any] | None:
    """A list answer (`{"images": [...], ...}`) whose images are objects, each with an `id`
    that is a canonical UUID (as a manifest needs it, and a marker sends it); None when
    the answer is anything else."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        return None
    if not all(isinstance(i, dict) and is_uuid(str(i.get("id"))) for i in images):
        return None
    answer: dict[str, Any] = data
    return answer


class ImageService(Protocol):
    """One image API (IMS, ...): paths, headers, error documents and image documents."""

    @property
    def name(self) -> str:
        """Short name for logs and the summary, e.g. 'ims'."""
        ...

    @property
    def request_id_header(self) -> str:
        """The answer header that carries the request id the report shows."""
        ...

    def patch(self, image_id: str) -> Request:
        """The request that applies a JSON Patch body to one image."""
        ...

    def body(self, ops: tuple[Op, ...], text: str) -> bytes:
        """The JSON Patch body for `ops`, values typed as the service expects them.

        `text` is `ops_json(ops)` (every value as text), made once per image for the
        report and the journal: a service that takes values as text sends it as it is."""
        ...

    def read(self, image_id: str) -> Request:
        """The request that reads one image's current attributes."""
        ...

    @property
    def list_filters(self) -> frozenset[str]:
        """The query parameters the service documents for filtering its image list."""
        ...

    def list_request(self, filters: Mapping[str, str], cursor: str | None, limit: int) -> Request:
        """The request for one page of the image list: the first (`cursor` None) with
        `filters` and asking for `limit` images, or the page `cursor` names."""
        ...

    def parse_list(self, body: bytes) -> ListPage | None:
        """The page in a list answer; None when the answer is no list page."""
        ...

    def rules_request(self) -> Request | None:
        """The request for the service's own attribute rules, if it publishes them."""
        ...

    def rules_from(self, body: bytes) -> AttributeRules | None:
        """The rules in the answer to `rules_request`; None when it cannot be read."""
        ...

    def parse_image(self, body: bytes) -> dict[str, Any] | None:
        """The image document in a PATCH or read answer; None when there is none."""
        ...

    def parse_error(self, status: int, body: bytes, content_type: str | None) -> ApiError:
        """The report's error code and message for an answer that was not a success."""
        ...

    def is_throttle(self, status: int, code: str) -> bool:
        """The API asked us to slow down."""
        ...

    def is_retryable(self, status: int, code: str) -> bool:
        """Another attempt may succeed (throttles, overloads, gateway errors)."""
        ...

    def is_auth_failure(self, status: int, code: str) -> bool:
        """The credentials (or their permissions) are wrong: counts toward the auth limit."""
        ...
