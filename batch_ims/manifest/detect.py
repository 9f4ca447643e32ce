"""Guess the code page of a manifest that is neither UTF-8 nor marked by a byte-order mark.

Excel saves "CSV" in the system's ANSI code page, so the candidates are the code pages of
the Windows versions that write most manifests: GB18030 (a superset of GBK, Chinese
Windows), Big5, Shift-JIS (cp932), Korean (cp949), Western (cp1252, which reads latin-1
text the same) and Cyrillic (cp1251). Central European cp1250 is left out on purpose: it
differs from cp1252 only in letters, so on a few names the two cannot be told apart.

Only the cells that hold non-ASCII bytes are looked at: image ids and headers would dilute
the little evidence a small manifest has. The cells are split on bytes that are never part
of a multi-byte character in these encodings (line breaks, tab, space, comma, semicolon,
double quote). Then, in three steps:

1. each candidate's reading must be text of its script (`scripts.read_as`), with at least
   `MIN_COMMON` of its non-ASCII characters among the script's common ones, and not fall
   more than `COMMON_MARGIN` behind the best reading on that share;
2. one reading left is the answer;
3. several left: chardet's language models rank them, and the first is taken when it scores
   `LEAD` times the second, or only `PREFERRED_LEAD` times when it is GB18030 (the main
   user base writes GBK: a short Chinese file is read as Chinese rather than refused, at
   the price of up to one Big5 file in 300 whose single word reads as two common
   simplified characters being read as those: bench/README.md).

Otherwise the choice is refused (ManifestError) naming the readings: the bytes are
ambiguous and only the user knows what they meant. `python -m bench.encoding` measures the
rule on a corpus of small manifests in each code page (bench/README.md).
"""

from __future__ import annotations

import re
import warnings
from typing import Final

from batch_ims.errors import ManifestError
from batch_ims.manifest.scripts import Reading, read_as

CANDIDATES: Final = ("gb18030", "big5", "cp932", "cp949", "cp1252", "cp1251")
PREFERRED: Final = "gb18030"
MIN_COMMON: Final = 0.5
COMMON_MARGIN: Final = 0.25
LEAD: Final = 2.0
PREFERRED_LEAD: Final = 1.2
# chardet may name a superset or subset of a candidate, as in its own answer
_SUPERSET_OF: Final = {
    "big5hkscs": "big5",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "gbk": "gb18030",
    "gb2312": "gb18030",
}
_NO_MATCH: Final = "utf-8"
_SAMPLE_CELLS: Final = 1 << 18  # bytes of non-ASCII cells given to the detector
_CELL_BREAKS = re.compile(rb'[\r\n\t ,;"]+')
_NON_ASCII = re.compile(rb"[\x80-\xff]")


def non_ascii_cells(data: bytes) -> bytes:
    """The distinct cells of `data` holding a non-ASCII byte, one per line (bounded size)."""
    picked: dict[bytes, None] = {}
    size = 0
    for cell in _CELL_BREAKS.split(data):
        if cell not in picked and _NON_ASCII.search(cell):
            picked[cell] = None
            size += len(cell) + 1
            if size >= _SAMPLE_CELLS:
                break
    return b"\n".join(picked)


def readings(sample: bytes) -> list[Reading]:
    """The readings of `sample` that pass steps 1 and 2, in CANDIDATES order."""
    found = [
        reading
        for encoding in CANDIDATES
        if (reading := read_as(sample, encoding)) and reading.common >= MIN_COMMON
    ]
    best = max((reading.common for reading in found), default=0.0)
    return [reading for reading in found if reading.common >= best - COMMON_MARGIN]


def ranked(sample: bytes, found: list[Reading]) -> list[tuple[Reading, float]]:
    """`found` with chardet's confidence in each, most likely first."""
    import chardet

    by_name = {reading.encoding: reading for reading in found}
    confidence = dict.fromkeys(by_name, 0.0)
    with warnings.catch_warnings():  # "no_match_encoding is excluded": as meant
        warnings.simplefilter("ignore", UserWarning)
        guesses = chardet.detect_all(
            sample,
            ignore_threshold=True,
            include_encodings=list(by_name),
            no_match_encoding=_NO_MATCH,  # never a candidate: no guess, not a made-up one
        )
    for guess in guesses:
        name = _codec_name(guess["encoding"])
        if name in confidence:
            confidence[name] = max(confidence[name], guess["confidence"])
    order = sorted(found, key=lambda reading: -confidence[reading.encoding])
    return [(reading, confidence[reading.encoding]) for reading in order]


def choose(path: str, head: bytes) -> str:
    """The one clear reading of a file's first bytes, or ManifestError naming the options."""
    sample = non_ascii_cells(head)
    found = readings(sample)
    if not found:
        raise ManifestError(
            path,
            "not UTF-8, and no reading as "
            f"{', '.join(CANDIDATES)} gives clean text; give the encoding with "
            "--encoding NAME (e.g. --encoding cp1250), or save the file as UTF-8",
        )
    if len(found) == 1:
        return found[0].encoding
    (best, first), (_, second) = ranked(sample, found)[:2]
    lead = PREFERRED_LEAD if best.encoding == PREFERRED else LEAD
    if first > 0 and first >= lead * second:
        return best.encoding
    others = [reading for reading in found if reading is not best]
    cell = _first_disagreement(sample, best, others[0])
    shown = ", ".join(f"{r.encoding} ({_decoded(cell, r)!r})" for r in (best, *others))
    raise ManifestError(
        path,
        f"not UTF-8, and its encoding is ambiguous: it reads as {shown}; "
        f"give the right one with --encoding {best.encoding} (or one of the others), "
        "or save the file as UTF-8",
    )


def _codec_name(name: str | None) -> str | None:
    import codecs

    try:
        found = codecs.lookup(name).name if name else None
    except LookupError:
        return None
    return _SUPERSET_OF.get(found, found) if found else None


def _first_disagreement(sample: bytes, one: Reading, other: Reading) -> bytes:
    """The first cell the two readings decode differently (to show the user)."""
    cells = sample.split(b"\n")
    for cell in cells:
        if _decoded(cell, one) != _decoded(cell, other):
            return cell
    return cells[0]


def _decoded(cell: bytes, reading: Reading) -> str:
    return cell.decode(reading.encoding, errors="replace")
