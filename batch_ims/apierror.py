"""Read the error code and message out of a Huawei Cloud error response, whatever its shape.

Shapes, at the top level or inside a wrapper object (searched breadth first, a few levels deep):

* IMS: ``{"error": {"code": "IMG.0027", "message": "..."}}``
* API gateway, IAM: ``{"error_code": "APIG.0308", "error_msg": "..."}``
* others: ``{"errorCode": "...", "errorMsg": "..."}`` and ``{"code": "...", "message": "..."}``

The pairs are tried in that order, as huaweicloudsdkcore's exception handler tries them; unlike
it, a code without its message still counts. IAM's ``encoded_authorization_message`` is kept.
A body without a code (an HTML page from a proxy, empty, not JSON) gives ``HTTP_<status>`` and
a short, whitespace-collapsed excerpt of the text. `parse_error` never raises.
"""

from __future__ import annotations

import codecs
import json
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

__all__ = ["ApiError", "parse_error"]

_SHAPES = (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message"))
_ENCODED_AUTH = "encoded_authorization_message"
_MAX_JSON_BYTES = 1 << 20  # bigger bodies are not error documents worth parsing
_MAX_DEPTH = 4
_MAX_MESSAGE = 1000
_EXCERPT = 200
_HTML_SCAN = 64 * 1024

_WHITESPACE = re.compile(r"\s+")
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w.:-]+)", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True, slots=True)
class ApiError:
    """An API error as the report shows it: `code` is never empty."""

    code: str
    message: str
    encoded_authorization_message: str = ""


def parse_error(status: int, body: bytes, content_type: str | None = None) -> ApiError:
    """The error code and message of a response with HTTP status `status`."""
    try:
        found = _from_json(body)
    except (ValueError, RecursionError):
        found = None
    if found is not None:
        code, message, encoded = found
        if code:
            return ApiError(code=code, message=message, encoded_authorization_message=encoded)
        if message:
            return ApiError(
                code=f"HTTP_{status}", message=message, encoded_authorization_message=encoded
            )
    return ApiError(code=f"HTTP_{status}", message=_excerpt(status, body, content_type))


def _from_json(body: bytes) -> tuple[str, str, str] | None:
    if len(body) > _MAX_JSON_BYTES:
        return None
    if body.lstrip().removeprefix(codecs.BOM_UTF8).lstrip()[:1] != b"{":
        return None
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        document = json.loads(body.decode("utf-8-sig", "replace"))
    return _search(document) if isinstance(document, dict) else None


def _search(document: Mapping[str, object]) -> tuple[str, str, str]:
    """(code, message, encoded auth message) of the first object with a code, breadth first.

    Without a code anywhere, the code is empty and the message is the first message seen.
    """
    encoded = message = ""
    queue: deque[tuple[Mapping[str, object], int]] = deque([(document, 0)])
    while queue:
        node, depth = queue.popleft()
        if not encoded:
            encoded = _code(node.get(_ENCODED_AUTH))
        for code_key, message_key in _SHAPES:
            code = _code(node.get(code_key))
            if code:
                return code[:_MAX_MESSAGE], _text(node.get(message_key)), encoded
            message = message or _text(node.get(message_key))
        if depth < _MAX_DEPTH:
            queue.extend((child, depth + 1) for child in node.values() if isinstance(child, dict))
    return "", message, encoded


def _code(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _excerpt(status: int, body: bytes, content_type: str | None) -> str:
    text = _decode(body[:_HTML_SCAN], content_type)
    if _looks_like_html(text, content_type):
        title = _TITLE.search(text)
        text = title.group(1) if title else _TAG.sub(" ", _SCRIPT.sub(" ", text))
    text = _WHITESPACE.sub(" ", text).strip()
    if not text:
        return _phrase(status)
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


def _decode(chunk: bytes, content_type: str | None) -> str:
    match = _CHARSET.search(content_type or "")
    if match:
        try:
            return chunk.decode(match.group(1), "replace")
        except (LookupError, UnicodeError):  # unknown charset, or a codec that is not text
            pass
    return chunk.decode("utf-8", "replace")


def _looks_like_html(text: str, content_type: str | None) -> bool:
    if content_type and "html" in content_type.lower():
        return True
    return text.lstrip()[:1] == "<"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
