"""The undo manifest: a long-layout CSV that puts back what a run changed.

For each attribute a successful image's PATCH touched: `replace` with the old value when
it existed, `add` it back when the PATCH removed it, `remove` it when it did not exist.
Values are written raw (no formula neutralisation): this file is a manifest, and its
values must round-trip exactly, the empty string included.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Any

from batch_ims.errors import UsageError
from batch_ims.models import ImageTask, Op
from batch_ims.values import as_text

HEADER = ("image_id", "op", "path", "value")


def undo_ops(ops: tuple[Op, ...], before: dict[str, Any]) -> list[Op]:
    """The ops that restore `before` for every attribute `ops` touch, in first-touch order."""
    touched: dict[str, Op] = {}
    for op in ops:
        touched[op.attribute] = op
    restore: list[Op] = []
    for attribute, last in touched.items():
        path = "/" + attribute
        if attribute in before:
            old = as_text(before[attribute])
            restore.append(Op("add" if last.op == "remove" else "replace", path, old))
        elif last.op != "remove":
            restore.append(Op("remove", path))
    return restore


class UndoWriter:
    def __init__(self, path: Path, *, append: bool = False) -> None:
        """`append` (a resumed run): keep the rows of the run being resumed."""
        self.path = path
        keep = append and path.is_file() and path.stat().st_size > 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] = path.open("a" if keep else "w", encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError(
                f"--undo-manifest {str(path)!r}: cannot write: {exc.strerror}"
            ) from exc
        self._writer = csv.writer(self._file)
        if not keep:
            self._writer.writerow(HEADER)

    def add(self, task: ImageTask, before: dict[str, Any]) -> None:
        for op in undo_ops(task.ops, before):
            value = "" if op.op == "remove" else (op.value or "")
            self._writer.writerow((task.image_id, op.op, op.attribute, value))
        self._file.flush()

    def close(self) -> None:
        self._file.close()
