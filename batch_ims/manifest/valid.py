"""The valid rows of a manifest in columns, and the per-image records built from them on demand.

Validation leaves each valid change as a few numbers and one value per row (its image, its
kind of change, the text to send, its row number), the images that needed the exact rules as
finished `ImageTask`s. `plan` reads counts and sample values straight from the columns; a run
asks for `tasks()`, which builds one `ImageTask` per image (and its `Op`s) only then.
"""

from __future__ import annotations

import gc
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from batch_ims.manifest.group import build_many, split_groups
from batch_ims.manifest.table import IntArray, ObjArray, object_array
from batch_ims.models import ImageTask, Op, OpName

_SCAN: Final = 1024  # values looked at per step when looking for a few distinct samples
_CHUNK: Final = 4096  # images whose records a run builds at a time


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of change: an op on an attribute. `shared`: its values are few (coded
    attributes), so one `Op` per distinct value serves every image."""

    op: OpName
    attribute: str
    shared: bool


@dataclass(frozen=True, slots=True)
class AttributeSummary:
    """What a plan shows of one attribute: ops per name, the first few distinct values."""

    counts: Counter[str]
    samples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ValidRows:
    """The valid images' changes. Fast rows (the images that passed every screen) are
    grouped by image in manifest order: `image` indexes `ids`, `kind` indexes `kinds`,
    `sent` is the value to send (None for remove), `rows` the row number. `judged` holds
    the images that needed the exact rules and are valid, by image index."""

    ids: list[str]
    image: IntArray
    kind: IntArray
    sent: ObjArray
    rows: IntArray
    kinds: tuple[Kind, ...]
    wide: bool
    judged: dict[int, ImageTask] = field(default_factory=dict)

    @property
    def image_count(self) -> int:
        changes = int(np.count_nonzero(self.image[1:] != self.image[:-1]))
        return (changes + 1 if len(self.image) else 0) + len(self.judged)

    @property
    def op_count(self) -> int:
        return len(self.image) + sum(len(task.ops) for task in self.judged.values())

    def tasks(self) -> list[ImageTask]:
        """One task per valid image, in order of first appearance, ops in manifest order."""
        with gc_paused():
            return self._tasks_between(0, len(self.ids), sorted(self.judged))

    def iter_tasks(self, images_per_chunk: int = _CHUNK) -> Iterator[ImageTask]:
        """`tasks()` built `images_per_chunk` images at a time: the same tasks in the same
        order, with only one chunk's records alive at once, so that a run holds the
        manifest's columns and not one record per image."""
        judged = sorted(self.judged)
        for low in range(0, len(self.ids), images_per_chunk):
            yield from self._tasks_between(low, min(low + images_per_chunk, len(self.ids)), judged)

    def _tasks_between(self, low: int, high: int, judged: list[int]) -> list[ImageTask]:
        """The tasks of the images whose index is in [low, high); `judged`: sorted indexes."""
        first_row, end_row = np.searchsorted(self.image, (low, high)).tolist()
        image = self.image[first_row:end_row] - low
        rows = self.rows[first_row:end_row]
        counts = np.bincount(image, minlength=high - low)
        present = np.flatnonzero(counts)
        ops = self._ops(self.kind[first_row:end_row], self.sent[first_row:end_row])
        op_tuples = split_groups(ops, counts[present])
        if self.wide:  # several cells of one row: list the row once
            first = np.ones(len(rows), dtype=bool)
            first[1:] = (image[1:] != image[:-1]) | (rows[1:] != rows[:-1])
            image, rows = image[first], rows[first]
        row_counts = np.bincount(image, minlength=high - low)
        row_tuples = split_groups(rows, row_counts[present])
        ids = self.ids if (low, high) == (0, len(self.ids)) else self.ids[low:high]
        names = ids if len(present) == len(ids) else [ids[i] for i in present.tolist()]
        fast = build_many(ImageTask, len(names), image_id=names, ops=op_tuples, rows=row_tuples)
        judged_here = judged[bisect_left(judged, low) : bisect_left(judged, high)]
        if not judged_here:
            return fast
        slots: list[ImageTask | None] = [None] * (high - low)
        for index, task in zip(present.tolist(), fast, strict=True):
            slots[index] = task
        for index in judged_here:
            slots[index - low] = self.judged[index]
        return [task for task in slots if task is not None]

    def _ops(self, kinds: IntArray, sent: ObjArray) -> ObjArray:
        """The `Op` of every fast row given, one kind at a time (shared where values are few)."""
        made: ObjArray = np.empty(len(kinds), dtype=object)
        for code, block in _blocks(kinds):
            kind = self.kinds[code]
            path = "/" + kind.attribute
            if kind.op == "remove":
                made[block] = Op("remove", path)
                continue
            values = sent[block].tolist()
            if kind.shared:
                distinct = {v: Op(kind.op, path, v) for v in dict.fromkeys(values)}
                made[block] = object_array(list(map(distinct.__getitem__, values)))
            else:
                made[block] = object_array(
                    build_many(Op, len(values), op=kind.op, path=path, value=values)
                )
        return made

    def summary(self, samples: int) -> dict[str, AttributeSummary]:
        """Per attribute (sorted): ops per name over all valid images, and the first
        `samples` distinct values in task order (as `tasks()` would list them)."""
        counts: dict[str, Counter[str]] = {}
        for code, number in enumerate(np.bincount(self.kind, minlength=len(self.kinds))):
            if number:
                kind = self.kinds[code]
                counts.setdefault(kind.attribute, Counter())[kind.op] += int(number)
        firsts = self._fast_samples(samples)
        for index, task in sorted(self.judged.items()):
            for position, op in enumerate(task.ops):
                counts.setdefault(op.attribute, Counter())[op.op] += 1
                found = firsts.setdefault(op.attribute, {})
                if op.value is not None and op.value not in found:
                    found[op.value] = (index, position)
        summary: dict[str, AttributeSummary] = {}
        for attribute in sorted(counts):
            found = firsts.get(attribute, {})
            first_used = sorted(found, key=found.__getitem__)[:samples]
            summary[attribute] = AttributeSummary(counts[attribute], tuple(first_used))
        return summary

    def _fast_samples(self, samples: int) -> dict[str, dict[str, tuple[int, int]]]:
        """Per attribute: its first `samples` distinct values among the fast rows, each with
        (image, position) of its first use, so that judged images can be merged in order."""
        firsts: dict[str, dict[str, tuple[int, int]]] = {}
        with_value = np.flatnonzero(
            np.asarray([kind.op != "remove" for kind in self.kinds], dtype=bool)[self.kind]
            if self.kinds
            else np.zeros(0, dtype=bool)
        )
        by_attribute: dict[str, list[IntArray]] = {}
        for code, block in _blocks(self.kind[with_value]):
            by_attribute.setdefault(self.kinds[code].attribute, []).append(with_value[block])
        for attribute, blocks in by_attribute.items():
            positions = np.sort(np.concatenate(blocks)) if len(blocks) > 1 else blocks[0]
            found = firsts.setdefault(attribute, {})
            for start in range(0, len(positions), _SCAN):
                chunk = positions[start : start + _SCAN]
                for position, value in zip(chunk.tolist(), self.sent[chunk].tolist(), strict=True):
                    if value not in found:
                        found[value] = (int(self.image[position]), position)
                if len(found) >= samples:
                    break
        return firsts


class TaskStream:
    """`ValidRows.iter_tasks` as a sized, re-iterable collection (`models.Tasks`)."""

    def __init__(self, valid: ValidRows) -> None:
        self._valid = valid

    def __iter__(self) -> Iterator[ImageTask]:
        return self._valid.iter_tasks()

    def __len__(self) -> int:
        return self._valid.image_count


def _blocks(codes: IntArray) -> Iterator[tuple[int, IntArray]]:
    """(code, positions holding it, ascending) for each distinct code."""
    if not len(codes):
        return
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for block in np.split(order, bounds):
        yield int(codes[block[0]]), block


@contextmanager
def gc_paused() -> Iterator[None]:
    """Create millions of acyclic records without the cycle collector, then freeze them.

    Collecting while they are created is pure cost, and so is every later pass over them
    (a few tenths of a second per pass at a million rows): after `gc.freeze()` the collector
    ignores them for good, while reference counting still frees them. Cyclic garbage that
    happens to exist at that moment is frozen too: a one-off few kilobytes.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
