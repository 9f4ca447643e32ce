"""OpenStack Glance v2: `PATCH /v2/images/{id}` (JSON Patch), `GET /v2/images/{id}`.

Glance answers errors as JSON (`{"code": ..., "title": ..., "message": ...}`, sometimes
wrapped) or as an HTML page whose body holds the explanation, e.g. `409 Conflict` with
"Property x does not exist". Throttling is a 429 (from a proxy or rate-limit middleware);
a 401 means the token is wrong or expired. A 403 is a policy refusal or a read-only
attribute, which retrying cannot fix.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

from yarl import URL

from batch_ims.clouds.openstack.rules import bundled_rules, rules_from_schema
from batch_ims.clouds.service import ImageUrls, ListPage, list_answer
from batch_ims.manifest.rules import AttributeRules
from batch_ims.models import Op
from batch_ims.redaction import clip, redact_text
from batch_ims.transport.apierror import MAX_MESSAGE, ApiError, excerpt
from batch_ims.transport.client import Request
from batch_ims.transport.retry import RETRY_STATUSES

PATCH_CONTENT_TYPE = "application/openstack-images-v2.1-json-patch"
_PATCH_HEADERS = {"Content-Type": PATCH_CONTENT_TYPE, "Accept": "application/json"}
_READ_HEADERS = {"Accept": "application/json"}
_TAG = re.compile(r"<[^>]*>")
_H1 = re.compile(r"<h1[^>]*>.*?</h1\s*>", re.IGNORECASE | re.DOTALL)
_BODY = re.compile(r"<body[^>]*>(.*?)</body\s*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# `GET /v2/images`: the filters and sort parameters Glance's API reference documents
# besides `marker` and `limit`; pages are chained by the answer's `next` link.
LIST_FILTERS = frozenset(
    {
        "name", "owner", "protected", "id", "status", "tag", "visibility", "os_hidden",
        "member_status", "size_max", "size_min", "created_at", "updated_at",
        "container_format", "disk_format", "sort_key", "sort_dir", "sort",
    }
)  # fmt: skip


class GlanceService:
    """The Glance v2 image API under one endpoint (from the catalog or --endpoint)."""

    name = "glance"
    request_id_header = "X-Openstack-Request-Id"
    list_filters = LIST_FILTERS

    def __init__(self, endpoint: URL, rules: AttributeRules | None = None) -> None:
        self._rules = rules if rules is not None else bundled_rules()
        base = endpoint if endpoint.path.rstrip("/").endswith("/v2") else endpoint / "v2"
        self._images = base / "images"
        self._url = ImageUrls(self._images)
        self._schema = str(base / "schemas" / "image")

    def patch(self, image_id: str) -> Request:
        return Request("PATCH", self._url(image_id), _PATCH_HEADERS)

    def body(self, ops: tuple[Op, ...], text: str) -> bytes:
        """Glance checks types against its schema: integers and booleans are sent as such
        (so `text`, every value as text, is not the body)."""
        return _ENCODER.encode([self._op_json(op) for op in ops]).encode("utf-8")

    def _op_json(self, op: Op) -> dict[str, Any]:
        if op.op == "remove":
            return {"op": "remove", "path": op.path}
        value: Any = op.value or ""
        if op.attribute in self._rules.integers:
            value = int(value)
        elif op.attribute in self._rules.booleans:
            value = value == "true"
        return {"op": op.op, "path": op.path, "value": value}

    def read(self, image_id: str) -> Request:
        return Request("GET", self._url(image_id), _READ_HEADERS)

    def list_request(self, filters: Mapping[str, str], cursor: str | None, limit: int) -> Request:
        """The first page: the filters and `limit`; a next page: the query of the `next`
        link Glance gave (it carries the filters, `limit` and `marker`), on our own URL, so
        that a path prefix in front of Glance (devstack's `/image`) is kept and the link
        can never lead elsewhere."""
        if cursor is None:
            url = self._images.with_query({**filters, "limit": str(limit)})
        else:
            url = URL(f"{self._images}?{cursor}", encoded=True)
        return Request("GET", url, _READ_HEADERS)

    def parse_list(self, body: bytes) -> ListPage | None:
        """`{"images": [...], "next": "/v2/images?marker=...", ...}`; no `next`: the end."""
        data = list_answer(body)
        if data is None:
            return None
        images, link = data["images"], data.get("next")
        if link is None:
            return ListPage(images, None)
        if not isinstance(link, str):
            return None
        query = URL(link, encoded=True).raw_query_string
        return ListPage(images, query or None) if "#" not in query else None

    def rules_request(self) -> Request | None:
        return Request("GET", URL(self._schema, encoded=True), _READ_HEADERS)

    def rules_from(self, body: bytes) -> AttributeRules | None:
        """Rules from the live `GET /v2/schemas/image`; the answer also retypes the bodies."""
        try:
            schema = json.loads(body)
        except ValueError:
            return None
        if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
            return None
        self._rules = rules_from_schema(schema)
        return self._rules

    def parse_image(self, body: bytes) -> dict[str, Any] | None:
        try:
            data = json.loads(body)
        except ValueError:
            return None
        return data if isinstance(data, dict) and "id" in data else None

    def parse_error(self, status: int, body: bytes, content_type: str | None) -> ApiError:
        found = _json_error(body) if body.lstrip()[:1] == b"{" else None
        if found is None:
            found = _html_error(body, content_type)
        if found:
            return ApiError(code=f"HTTP_{status}", message=clip(found, MAX_MESSAGE))
        return ApiError(code=f"HTTP_{status}", message=excerpt(status, body, content_type))

    def is_throttle(self, status: int, code: str) -> bool:
        return status == 429

    def is_retryable(self, status: int, code: str) -> bool:
        return status in RETRY_STATUSES

    def is_auth_failure(self, status: int, code: str) -> bool:
        return status == 401


def _json_error(body: bytes) -> str | None:
    """`message` of Glance's JSON error, at the top or one level down (`{"error": {...}}`)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    for node in (data, *(v for v in data.values() if isinstance(v, dict))):
        message = node.get("message") or node.get("explanation")
        if isinstance(message, str) and message.strip():
            return _plain(message) or None
    return None


def _html_error(body: bytes, content_type: str | None) -> str | None:
    """The explanation in Glance's (webob's) HTML error page: its body without the <h1>."""
    text = body[: 64 * 1024].decode("utf-8", "replace")
    if "<" not in text[:200] and "html" not in (content_type or "").lower():
        return _plain(text) or None
    match = _BODY.search(text)
    inner = match.group(1) if match else text
    return _plain(_H1.sub(" ", inner)) or None


def _plain(text: str) -> str:
    """Redacted, markup removed, entities decoded, white space folded: `<br />` and `&#x27;`
    go."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", redact_text(text)))).strip()
