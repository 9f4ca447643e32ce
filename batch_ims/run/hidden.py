"""Rows hidden in the workbook, as a run treats them: refused until told, then named.

A run never sends hidden rows without being told to (`--hidden-rows include`), and never
drops them silently: without a choice the manifest is refused (exit 2, nothing sent); with
one, the rows are named in a `manifest.hidden_rows` event; with "skip", each image of the
hidden rows is reported `skipped` (one report row, its rows and ops, never sent) and the
summary counts the rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import structlog

from batch_ims.errors import ManifestError
from batch_ims.manifest import Manifest
from batch_ims.manifest.hidden import rows_shown
from batch_ims.models import HIDDEN_ROW, ImageTask, InvalidItem, Outcome, hidden_skipped
from batch_ims.run.selection import in_shard
from batch_ims.settings import HIDDEN_ROW_CHOICES, Shard

_log = structlog.get_logger("batch_ims")


def check_hidden(path: str, manifests: Sequence[Manifest], choice: str | None) -> str:
    """Refuse hidden rows nobody chose for (one line); otherwise name them in the log.
    `manifests`: the manifest's parts (one per target). Returns the rows as text ("" when
    no row is hidden)."""
    parts = [manifest.hidden.rows for manifest in manifests if manifest.hidden is not None]
    if not parts:
        return ""
    rows = np.sort(np.concatenate(parts))
    shown = rows_shown(rows)
    if choice is None:
        raise ManifestError(
            path,
            f"{shown}: {HIDDEN_ROW}; nothing sent: choose "
            f"--hidden-rows {'|'.join(HIDDEN_ROW_CHOICES)} (job files: hidden-rows)",
        )
    _log.warning("manifest.hidden_rows", path=path, rows=shown, count=len(rows), hidden_rows=choice)
    return shown


class HiddenSkips:
    """The `skipped` outcomes of the images of hidden rows left out ("skip"), in this
    run's shard, made as they are walked; `rows` counts their manifest rows."""

    def __init__(self, manifest: Manifest, shard: Shard | None) -> None:
        self._manifest = manifest
        self._shard = shard
        self._count = 0
        self.rows = 0
        for item in self._items():
            self._count += 1
            self.rows += len(item.rows)

    def _items(self) -> Iterator[ImageTask | InvalidItem]:
        hidden = self._manifest.hidden
        if hidden is None or hidden.choice != "skip":
            return
        for item in hidden.skipped_images():
            if in_shard(item.image_id, self._shard):
                yield item

    def __iter__(self) -> Iterator[Outcome]:
        return map(hidden_skipped, self._items())

    def __len__(self) -> int:
        return self._count
