"""Result rows: a plain-text table for the terminal and the same rows as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_COLUMNS = ("row", "measured", "target", "met", "notes")


@dataclass(frozen=True, slots=True)
class Row:
    """One benchmark row; `met` is None when it is context, not a target, or it failed."""

    row: str
    measured: str
    target: str
    met: bool | None
    notes: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def met_text(self) -> str:
        return {True: "yes", False: "no", None: "-"}[self.met]


def format_table(rows: list[Row], *, notes_width: int = 70) -> str:
    """Columns row, measured, target, met, notes; long notes wrap inside their column."""
    cells = [[r.row, r.measured, r.target, r.met_text, r.notes] for r in rows]
    widths = [
        max([len(_COLUMNS[i])] + [len(c[i]) for c in cells]) for i in range(len(_COLUMNS) - 1)
    ]
    lines = [_line([*_COLUMNS[:-1], _COLUMNS[-1]], widths)]
    lines.append(_line(["-" * w for w in widths] + ["-" * 5], widths))
    for cell in cells:
        wrapped = _wrap(cell[-1], notes_width) or [""]
        lines.append(_line([*cell[:-1], wrapped[0]], widths))
        lines.extend(_line(["", "", "", "", more], widths) for more in wrapped[1:])
    return "\n".join(lines)


def _line(cells: list[str], widths: list[int]) -> str:
    padded = [c.ljust(w) for c, w in zip(cells, widths, strict=False)]
    return " | ".join([*padded, cells[-1]]).rstrip(" |")


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def to_json(rows: list[Row], *, meta: dict[str, Any]) -> str:
    payload = {"meta": meta, "rows": [asdict(r) for r in rows]}
    return json.dumps(payload, indent=2, ensure_ascii=False)


def write_json(path: Path, rows: list[Row], *, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(rows, meta=meta) + "\n", encoding="utf-8")
