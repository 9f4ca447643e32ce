"""Secrets cut out of text, in whatever form a server echoes them back.

A registered secret is known in every form it may come back in: as it is, JSON-escaped
(`\\u00dc`, `\\"`, escaped twice), as a Python repr, percent- and HTML-encoded, and with its
white space folded (`" ".join(secret.split())`) or removed. In each of those forms:

- the first `PART` (8) or more characters are cut: an echo cut short by the server (the
  first 8 characters of a password, the first 995 of a token) is cut like the whole;
- of a secret of `LONG` (40) or more characters (keys, tokens: random text), any `PART` or
  more characters in a row of any form are cut, wherever they stand. Shorter secrets are
  passwords, whose middle may be a word (`password` in `e2e-password-1`) that a log line
  also says (their escaped forms are longer, but hold the same words);
- a form shorter than `PART` is cut only whole.

Text is redacted before it is cut or folded: `clip` is the one way to shorten a message.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "LONG",
    "PART",
    "REDACTED",
    "clip",
    "has_secrets",
    "redact_data",
    "redact_text",
    "register",
]

REDACTED = "***"
PART = 8  # the shortest run of a secret's characters that is cut
LONG = 40  # secrets this long are cut in any PART characters in a row
_MIN_SECRET = 4

_whole: set[str] = set()  # forms shorter than PART, cut only whole
_parts: set[str] = set()  # every PART-character run of every LONG form
_heads: dict[str, list[str]] = {}  # the first PART characters of a shorter form -> forms
_starts: set[str] = set()  # _parts and _heads: the runs a cut starts with
_QUARTER = PART // 2
_quarters: set[str] = set()  # every QUARTER-character run of _starts: a quick first look
_secrets: set[str] = set()
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-f]{4})")


def forms(secret: str) -> set[str]:
    """The texts `secret` may be echoed as (see the module's text)."""
    escaped = json.dumps(secret)[1:-1]
    found = {
        secret,
        escaped,
        _UNICODE_ESCAPE.sub(lambda m: "\\u" + m.group(1).upper(), escaped),
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(escaped)[1:-1],
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        html.escape(secret),
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    }
    for form in list(found):
        found.add(" ".join(form.split()))
        found.add("".join(form.split()))
    return {form for form in found if form}


def register(value: str | None) -> None:
    """Cut `value` (4+ characters), in all its forms, out of every text redacted from now on."""
    if not value or len(value) < _MIN_SECRET or value in _secrets:
        return
    _secrets.add(value)
    for form in forms(value):
        if len(form) < PART:
            _whole.add(form)
            continue
        if len(value) >= LONG:
            runs = {form[i : i + PART] for i in range(len(form) - PART + 1)}
            _parts.update(runs)
        else:
            runs = {form[:PART]}
            _heads.setdefault(form[:PART], []).append(form)
        _starts.update(runs)
        _quarters.update(run[i : i + _QUARTER] for run in runs for i in range(_QUARTER + 1))


def has_secrets() -> bool:
    return bool(_secrets)


def redact_text(text: str) -> str:
    """`text` with every run of a secret's characters (see the module's text) as `***`."""
    if not _secrets:
        return text
    for form in _whole:
        if form in text:
            text = text.replace(form, REDACTED)
    size = len(text)
    if size < PART or not _starts:
        return text
    # Any PART characters in a row hold a run of _QUARTER starting at a multiple of
    # _QUARTER: text sharing none of those with a secret holds none of it (the usual case,
    # decided without a Python-level loop).
    starts = range(0, size - _QUARTER + 1, _QUARTER)
    quarters = map(text.__getitem__, map(slice, starts, range(_QUARTER, size + 1, _QUARTER)))
    if _quarters.isdisjoint(quarters):
        return text
    windows = map(text.__getitem__, map(slice, range(size - PART + 1), range(PART, size + 1)))
    if _starts.isdisjoint(windows):  # still no Python-level loop
        return text
    return _cut_parts(text)


def _cut_parts(text: str) -> str:
    spans: list[list[int]] = []  # [start, end) of each run cut, merged as they overlap
    for start in range(len(text) - PART + 1):
        window = text[start : start + PART]
        if window not in _starts:
            continue
        end = start + PART if window in _parts else start
        for form in _heads.get(window, ()):
            end = max(end, start + _shared(text, start, form))
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    pieces: list[str] = []
    kept = 0
    for start, end in spans:
        pieces += (text[kept:start], REDACTED)
        kept = end
    pieces.append(text[kept:])
    return "".join(pieces)


def _shared(text: str, start: int, form: str) -> int:
    """How many characters of `text` from `start` are the start of `form` (PART or more)."""
    size = PART
    limit = min(len(form), len(text) - start)
    while size < limit and text[start + size] == form[size]:
        size += 1
    return size


def redact_data(value: Any) -> Any:
    """`value` with every registered secret cut out of its text, nested values included."""
    if not _secrets:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(item) for item in value]
    return value


def one_line(text: str, limit: int) -> str:
    """`text` redacted whole, then folded onto one line and cut to `limit` (ending with …)."""
    return clip(" ".join(redact_text(text).split()), limit, marker="…")


def clip(text: str, limit: int, *, marker: str = "...") -> str:
    """`text` redacted, then cut to `limit` characters (ending with `marker` when cut)."""
    text = redact_text(text)
    return text if len(text) <= limit else text[: limit - len(marker)] + marker
