"""An error answer as the report shows it, and the generic reading of a body with no code.

A body without a code (an HTML page from a proxy, empty, not JSON) gives ``HTTP_<status>`` and
a short, whitespace-collapsed excerpt of the text, redacted (`batch_ims.redaction`) before
it is folded or cut. Image services read their own error documents (`batch_ims.clouds`) and
fall back on `excerpt`. Nothing here raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus

from batch_ims.redaction import clip, redact_text

__all__ = ["ApiError", "excerpt"]

MAX_MESSAGE = 1000
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


def excerpt(status: int, body: bytes, content_type: str | None) -> str:
    text = redact_text(_decode(body[:_HTML_SCAN], content_type))
    if _looks_like_html(text, content_type):
        title = _TITLE.search(text)
        text = title.group(1) if title else _TAG.sub(" ", _SCRIPT.sub(" ", text))
    text = _WHITESPACE.sub(" ", text).strip()
    if not text:
        return _phrase(status)
    return clip(text, _EXCERPT)


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
