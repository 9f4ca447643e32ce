"""Huawei Cloud IMS: `PATCH /v2/cloudimages/{id}`, `GET /v2/cloudimages?id=`, IMS errors.

Endpoints are `https://ims.{region}.myhuaweicloud.com` (`.eu` for the EU regions); image
ids are canonical lowercase UUIDs (checked again here, before they reach a URL); IMS's own
flow control answers `400 IMG.0060`, which is throttling like a gateway 429.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from yarl import URL

from batch_ims.clouds.huawei.errors import parse_error
from batch_ims.clouds.huawei.hints import is_auth_failure
from batch_ims.clouds.service import ImageUrls, ListPage, check_image_id, list_answer
from batch_ims.errors import UsageError
from batch_ims.manifest.rules import AttributeRules
from batch_ims.models import Op
from batch_ims.transport.apierror import ApiError
from batch_ims.transport.client import Request
from batch_ims.transport.endpoint import check_endpoint
from batch_ims.transport.retry import RETRY_STATUSES

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"
IMS_FLOW_CONTROL = "IMG.0060"
_EU_REGIONS = frozenset({"eu-west-101"})
_HEADERS = {"Content-Type": JSON_CONTENT_TYPE}
# ListImages (`GET /v2/cloudimages`): the query parameters IMS documents besides `marker`
# and `limit`, its pagination (the next page starts after the last image's id).
LIST_FILTERS = frozenset(
    {
        "__isregistered", "__imagetype", "__whole_image", "__system__cmkid", "protected",
        "visibility", "owner", "id", "status", "name", "flavor_id", "container_format",
        "disk_format", "min_ram", "min_disk", "__os_bit", "__platform", "sort_key",
        "sort_dir", "__os_type", "tag", "member_status", "__support_kvm", "__support_xen",
        "__support_largememory", "__support_diskintensive", "__support_highperformance",
        "__support_xen_gpu_type", "__support_kvm_gpu_type", "__support_xen_hana",
        "__support_kvm_infiniband", "virtual_env_type", "enterprise_project_id",
        "created_at", "updated_at", "architecture",
    }
)  # fmt: skip


def region_endpoint(region: str) -> URL:
    """`https://ims.{region}.myhuaweicloud.com` (`.eu` for the EU regions)."""
    if not region.replace("-", "").isalnum():
        raise UsageError(f"--region {region!r} is not a region name such as cn-north-4")
    domain = "myhuaweicloud.eu" if region in _EU_REGIONS else "myhuaweicloud.com"
    return URL(f"https://ims.{region}.{domain}")


def resolve_endpoint(endpoint: str | None, region: str | None) -> URL:
    """The IMS base URL: `--endpoint`, else the region's. Plain http only to loopback."""
    if endpoint:
        return check_endpoint(
            endpoint, name="--endpoint", example="https://ims.cn-north-4.myhuaweicloud.com"
        )
    if region:
        return region_endpoint(region)
    raise UsageError("no endpoint: give --endpoint URL or --region NAME (e.g. cn-north-4)")


class ImsService:
    """The IMS image API under one endpoint."""

    name = "ims"
    request_id_header = "X-Request-Id"
    list_filters = LIST_FILTERS

    def __init__(self, endpoint: URL) -> None:
        self._images = endpoint / "v2" / "cloudimages"
        self._image_url = ImageUrls(self._images)

    def patch(self, image_id: str) -> Request:
        return Request("PATCH", self._image_url(image_id), _HEADERS)

    def body(self, ops: tuple[Op, ...], text: str) -> bytes:
        """IMS takes every value as text (`"min_ram": "2048"`, `"__support_kvm": "true"`):
        the body is `text`, `ops_json(ops)`."""
        return text.encode("utf-8")

    def read(self, image_id: str) -> Request:
        url = self._images.with_query({"id": check_image_id(image_id)})
        return Request("GET", url, _HEADERS)

    def list_request(self, filters: Mapping[str, str], cursor: str | None, limit: int) -> Request:
        """ListImages: the filters, `limit`, and `marker` (the last image of the page before)."""
        query = {**filters, "limit": str(limit)}
        if cursor is not None:
            query["marker"] = check_image_id(cursor)
        return Request("GET", self._images.with_query(query), _HEADERS)

    def parse_list(self, body: bytes) -> ListPage | None:
        """`{"images": [...]}`; IMS gives no next link: the next page starts after the last
        image, and an empty page is the end (a short page may only be IMS's own cap)."""
        data = list_answer(body)
        if data is None:
            return None
        images = data["images"]
        return ListPage(images, images[-1]["id"] if images else None)

    def rules_request(self) -> Request | None:
        return None  # IMS publishes no schema: its rules are `clouds.huawei.rules.IMS`

    def rules_from(self, body: bytes) -> AttributeRules | None:
        return None

    def parse_image(self, body: bytes) -> dict[str, Any] | None:
        """The image of a PATCH answer, or `images[0]` of `GET /v2/cloudimages?id=`."""
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if isinstance(data, dict) and isinstance(data.get("images"), list):
            images = data["images"]
            return images[0] if images and isinstance(images[0], dict) else None
        return data if isinstance(data, dict) and "id" in data else None

    def parse_error(self, status: int, body: bytes, content_type: str | None) -> ApiError:
        return parse_error(status, body, content_type)

    def is_throttle(self, status: int, code: str) -> bool:
        return status == 429 or (status == 400 and code == IMS_FLOW_CONTROL)

    def is_retryable(self, status: int, code: str) -> bool:
        return status in RETRY_STATUSES or self.is_throttle(status, code)

    def is_auth_failure(self, status: int, code: str) -> bool:
        return is_auth_failure(status, code)
