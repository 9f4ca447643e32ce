"""The undo manifest: a long-layout CSV that puts back what a run changed.

For each attribute a successful image's PATCH touched: `replace` with the old value when
it existed, `add` it back when the PATCH removed it, `remove` it when it did not exist.
A value a spreadsheet would run as a formula (`=`, `+`, `-`, `@`...: a server's old value
is anybody's text) is written with a leading apostrophe, as the report does; the manifest
reader drops it (`batch_ims.formula`), so values still round-trip exactly, the empty
string included.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from batch_ims.formula import mark
from batch_ims.models import ImageTask, Op
from batch_ims.output.files import lock, open_live
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
    """Written as images finish (like the journal, it must survive a kill), flushed per image.

    A resumed run appends to the manifest of the run it resumes; any other run starts it
    afresh (an existing file needs `overwrite`, checked before the run). A write that fails
    is handed to `on_error` once, and nothing more is written.
    """

    label = "--undo-manifest"

    def __init__(
        self,
        path: Path,
        *,
        append: bool = False,
        on_error: Callable[[UndoWriter, OSError], None] | None = None,
    ) -> None:
        self.path = path
        self._on_error = on_error
        self._file: IO[str] = open_live(self.label, path, mode="a")
        lock(self._file, self.label, path)
        if not append:
            self._file.truncate(0)
        self._writer = csv.writer(self._file)
        self._failed = False
        if self._file.tell() == 0:
            self._guarded(lambda: self._writer.writerow(HEADER))

    def _guarded(self, write: Callable[[], object]) -> None:
        if self._failed:
            return
        try:
            write()
            self._file.flush()
        except OSError as exc:
            self._failed = True
            if self._on_error is None:
                raise
            self._on_error(self, exc)

    def add(self, task: ImageTask, before: dict[str, Any]) -> None:
        def rows() -> None:
            for op in undo_ops(task.ops, before):
                value = "" if op.op == "remove" else mark(op.value or "")
                self._writer.writerow((task.image_id, op.op, op.attribute, value))

        self._guarded(rows)

    def close(self) -> None:
        self._guarded(lambda: os.fsync(self._file.fileno()))
        with contextlib.suppress(OSError):
            self._file.close()
