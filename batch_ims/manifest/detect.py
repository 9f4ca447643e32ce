"""Guess the code page of a manifest that is neither UTF-8 nor marked by a byte-order mark.

Excel saves "CSV" in the system's ANSI code page, so the candidates are the code pages of
the Windows versions that write most manifests: GB18030 (a superset of GBK, Chinese
Windows), Big5, Shift-JIS (cp932), Korean (cp949), Western (cp1252, which reads latin-1
text the same) and Cyrillic (cp1251). Central European cp1250 is left out on purpose: it
differs from cp1252 only in letters, so on a few names the two cannot be told apart, and
text written in cp1250 reads as symbols in cp1252, which charset-normalizer rejects.

charset-normalizer only sees the cells that hold non-ASCII bytes: image ids and headers
would dilute the little evidence a small manifest has. The cells are split on bytes that
are never part of a multi-byte character in these encodings (line breaks, tab, space,
comma, semicolon, double quote).

The choice is refused (ManifestError) when nothing fits, or when another candidate that
decodes the cells differently comes within `CHAOS_MARGIN` / `COHERENCE_MARGIN` of the
best: the bytes are ambiguous and only the user knows what they meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from batch_ims.errors import ManifestError

CANDIDATES: Final = ("gb18030", "big5", "cp932", "cp949", "cp1252", "cp1251")
CHAOS_MARGIN: Final = 0.05
COHERENCE_MARGIN: Final = 0.1
_SAMPLE_CELLS: Final = 1 << 18  # bytes of non-ASCII cells given to the detector
_CELL_BREAKS = re.compile(rb'[\r\n\t ,;"]+')
_NON_ASCII = re.compile(rb"[\x80-\xff]")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One reading of the sample: its encoding, how messy and how coherent the text is."""

    encoding: str
    chaos: float
    coherence: float
    text: str


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


def candidates(sample: bytes) -> list[Candidate]:
    """charset-normalizer's readings of `sample` among CANDIDATES, best first."""
    from charset_normalizer import from_bytes

    found = []
    for match in from_bytes(sample, cp_isolation=list(CANDIDATES)):
        text = str(match)
        for name in (match.encoding, *match.could_be_from_charset):
            if name in CANDIDATES:
                found.append(Candidate(name, match.chaos, match.coherence, text))
                break
    return found


def choose(path: str, head: bytes) -> str:
    """The one clear reading of a file's first bytes, or ManifestError naming the options."""
    sample = non_ascii_cells(head)
    found = candidates(sample)
    if not found:
        raise ManifestError(
            path,
            "not UTF-8, and no reading as "
            f"{', '.join(CANDIDATES)} gives clean text; give the encoding with "
            "--encoding NAME (e.g. --encoding cp1250), or save the file as UTF-8",
        )
    best, *others = found
    rivals = [
        other
        for other in others
        if other.text != best.text
        and other.chaos - best.chaos <= CHAOS_MARGIN
        and best.coherence - other.coherence <= COHERENCE_MARGIN
    ]
    if rivals:
        cell = _first_disagreement(sample, best, rivals[0])
        shown = ", ".join(f"{c.encoding} ({_decoded(cell, c)!r})" for c in (best, *rivals))
        raise ManifestError(
            path,
            f"not UTF-8, and its encoding is ambiguous: it reads as {shown}; "
            f"give the right one with --encoding {best.encoding} (or one of the others), "
            "or save the file as UTF-8",
        )
    return best.encoding


def _first_disagreement(sample: bytes, one: Candidate, other: Candidate) -> bytes:
    """The first cell the two readings decode differently (to show the user)."""
    cells = sample.split(b"\n")
    for cell in cells:
        if _decoded(cell, one) != _decoded(cell, other):
            return cell
    return cells[0]


def _decoded(cell: bytes, candidate: Candidate) -> str:
    return cell.decode(candidate.encoding, errors="replace")
