"""Which text encoding a delimited manifest uses, as Excel and other tools really save them.

Order of detection: a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE); NUL bytes laid out
like UTF-16 text without a mark; strict UTF-8 over the whole file (a valid UTF-8 file is
UTF-8); a file that is mostly UTF-8 with a few stray bytes is refused; otherwise the code
page Excel saved it in, found among a few candidates by `detect` (see its rule), and
refused when the choice is not clear-cut. An explicit encoding overrides all of it.
Whatever is chosen is checked over the whole file, in chunks, so a bad byte is reported with
its offset before anything is parsed. The same pass measures lines, which tells the reader
whether a cell could possibly exceed the size limit.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from batch_ims.errors import ManifestError
from batch_ims.manifest.table import MAX_CELL_CHARS

HEAD_BYTES: Final = 1 << 20
LINE_LIMIT: Final = MAX_CELL_CHARS  # bytes
_SCAN_BYTES: Final = 1 << 19  # < LINE_LIMIT: see `scan`
_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SIGNATURES: Final = (
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook?); give it the .xlsx extension"),
    (b"\xd0\xcf\x11\xe0", "an old binary Excel file (.xls); save it as .xlsx or CSV"),
    (b"%PDF", "a PDF document, not a manifest"),
)
_ADVICE: Final = "save the file as UTF-8 or pass --encoding NAME"


@dataclass(frozen=True, slots=True)
class Scan:
    """The encoding chosen, and the shape of the file's lines (counted in bytes)."""

    encoding: str
    newlines: int
    long_line: bool  # some line has more than LINE_LIMIT bytes
    ends_with_newline: bool


def detect_encoding(path: str, head: bytes, *, override: str | None = None) -> Scan:
    """Choose and check the encoding of `path` (`head` = its first bytes), or ManifestError."""
    if override is not None:
        return _scan_or_advise(path, _lookup(path, override))
    for signature, problem in _SIGNATURES:
        if head.startswith(signature):
            raise ManifestError(path, f"this file is {problem}")
    for bom, name in _BOMS:
        if head.startswith(bom):
            return _scan_or_advise(path, name)
    if b"\x00" in head:
        utf16 = _utf16_without_bom(head)
        if utf16 is None:
            raise ManifestError(path, "contains NUL bytes: binary data, not a text manifest")
        return _scan_or_advise(path, utf16)
    try:
        return scan(path, "utf-8")
    except ManifestError as utf8_error:
        if _mostly_utf8(path):  # UTF-8 with a few stray bytes: a code page would garble it
            raise ManifestError(path, f"{utf8_error.problem}; {_ADVICE}") from None
    from batch_ims.manifest.detect import choose

    return _scan_or_advise(path, choose(path, head))


_NON_ASCII_TEXT = re.compile("[^\x00-\x7f\ufffd]")
_SAMPLE_BYTES = 4 << 20


def _mostly_utf8(path: str) -> bool:
    """True when valid UTF-8 multi-byte characters far outnumber the bytes that are not.

    A GB18030 file decoded as UTF-8 yields mostly replacement characters (only a few
    byte pairs happen to be valid UTF-8); a UTF-8 file with a stray Latin-1 byte yields
    mostly real characters.
    """
    with Path(path).open("rb") as stream:
        text = stream.read(_SAMPLE_BYTES).decode("utf-8", errors="replace")
    valid = len(_NON_ASCII_TEXT.findall(text))
    return valid >= 4 * max(1, text.count("\ufffd"))


def scan(path: str, encoding: str) -> Scan:
    """Decode the whole file in chunks (bounded memory); ManifestError at the first bad byte.

    A chunk is shorter than LINE_LIMIT, so a longer line must span chunks: measuring the
    stretches between line breaks across chunk boundaries finds every such line.
    """
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = newlines = line_start = 0  # line_start: where the current line began
    long_line = False
    try:
        with Path(path).open("rb") as stream:
            while chunk := stream.read(_SCAN_BYTES):
                _decode(path, encoding, decoder, chunk, offset, final=False)
                first = chunk.find(b"\n")
                if first >= 0:
                    long_line = long_line or offset + first - line_start > LINE_LIMIT
                    line_start = offset + chunk.rfind(b"\n") + 1
                    newlines += chunk.count(b"\n")
                offset += len(chunk)
        _decode(path, encoding, decoder, b"", offset, final=True)
    except OSError as error:
        raise ManifestError(path, f"cannot read the file: {error.strerror or error}") from None
    long_line = long_line or offset - line_start > LINE_LIMIT
    return Scan(encoding, newlines, long_line, line_start == offset)


def _scan_or_advise(path: str, encoding: str) -> Scan:
    try:
        return scan(path, encoding)
    except ManifestError as error:
        raise ManifestError(path, f"{error.problem}; {_ADVICE}") from None


def _decode(
    path: str,
    encoding: str,
    decoder: codecs.IncrementalDecoder,
    chunk: bytes,
    offset: int,
    *,
    final: bool,
) -> None:
    pending = len(decoder.getstate()[0])
    try:
        decoder.decode(chunk, final=final)
    except UnicodeDecodeError as error:
        at = offset - pending + error.start
        shown = error.object[error.start : error.start + 1].hex()
        what = f"byte 0x{shown} at offset {at}" if shown else f"the end, at offset {at}"
        raise ManifestError(
            path, f"not valid {_display(encoding)} text: {what} ({error.reason})"
        ) from None
    except UnicodeError as error:  # e.g. utf-16 without a byte order mark
        raise ManifestError(
            path, f"cannot be read as {_display(encoding)} text ({error})"
        ) from None


def decode_head(head: bytes, encoding: str, *, complete: bool) -> str:
    """Decode the first bytes of a file that `scan` accepted."""
    return codecs.getincrementaldecoder(encoding)("strict").decode(head, final=complete)


def _lookup(path: str, name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ManifestError(
            path, f"unknown encoding {name!r}; try utf-8, utf-8-sig, gb18030 or utf-16"
        ) from None


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text of mostly ASCII characters has a NUL in every other byte."""
    sample = head[: 1 << 16]
    even, odd = sample[0::2], sample[1::2]
    if len(odd) < 2:
        return None
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _display(encoding: str) -> str:
    return {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "gb18030": "GB18030"}.get(encoding, encoding)
