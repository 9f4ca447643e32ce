"""Read the error code and message out of a Huawei Cloud error response, whatever its shape.

Shapes, at the top level or inside a wrapper object (searched breadth first, a few levels deep):

* IMS: ``{"error": {"code": "IMG.0027", "message": "..."}}``
* API gateway, IAM: ``{"error_code": "APIG.0308", "error_msg": "..."}``
* others: ``{"errorCode": "...", "errorMsg": "..."}`` and ``{"code": "...", "message": "..."}``

The pairs are tried in that order, as huaweicloudsdkcore's exception handler tries them; unlike
it, a code without its message still counts.
A body without a code (an HTML page from a proxy, empty, not JSON) gives ``HTTP_<status>`` and
a short, whitespace-collapsed excerpt of the text. Codes and messages are redacted
(`batch_ims.redaction`) before they are cut. `parse_error` never raises.
"""

from __future__ import annotations

import codecs
import json
from collections import deque
from collections.abc import Mapping

from batch_ims.redaction import clip
from batch_ims.transport.apierror import MAX_MESSAGE, ApiError, excerpt

__all__ = ["ApiError", "parse_error"]

_SHAPES = (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message"))
_MAX_JSON_BYTES = 1 << 20  # bigger bodies are not error documents worth parsing
_MAX_DEPTH = 4


def parse_error(status: int, body: bytes, content_type: str | None = None) -> ApiError:
    """The error code and message of a response with HTTP status `status`."""
    try:
        found = _from_json(body)
    except (ValueError, RecursionError):
        found = None
    if found is not None:
        code, message = found
        if code:
            return ApiError(code=code, message=message)
        if message:
            return ApiError(code=f"HTTP_{status}", message=message)
    return ApiError(code=f"HTTP_{status}", message=excerpt(status, body, content_type))


def _from_json(body: bytes) -> tuple[str, str] | None:
    if len(body) > _MAX_JSON_BYTES:
        return None
    if body.lstrip().removeprefix(codecs.BOM_UTF8).lstrip()[:1] != b"{":
        return None
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        document = json.loads(body.decode("utf-8-sig", "replace"))
    return _search(document) if isinstance(document, dict) else None


def _search(document: Mapping[str, object]) -> tuple[str, str]:
    """(code, message) of the first object with a code, breadth first.

    Without a code anywhere, the code is empty and the message is the first message seen.
    """
    message = ""
    queue: deque[tuple[Mapping[str, object], int]] = deque([(document, 0)])
    while queue:
        node, depth = queue.popleft()
        for code_key, message_key in _SHAPES:
            code = _code(node.get(code_key))
            if code:
                return clip(code, MAX_MESSAGE), _text(node.get(message_key))
            message = message or _text(node.get(message_key))
        if depth < _MAX_DEPTH:
            queue.extend((child, depth + 1) for child in node.values() if isinstance(child, dict))
    return "", message


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
    return clip(text, MAX_MESSAGE)
