"""Entries -> ImageTask / InvalidItem, column-wise so that a million rows stay cheap.

Each distinct image id, op and path text is parsed once; values are screened per
(op, attribute) group with C-level passes (length, printable, trimmed); repeats of one
attribute within an image are found by hashing. Only images that fail a screen go through
the exact rules in `judge`, which produce every message; the others become tasks directly.
"""

from __future__ import annotations

import gc
import operator
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat
from typing import Final

import numpy as np

from batch_ims.manifest.attributes import (
    attribute_error,
    check_value,
    normalize_image_id,
    parse_op,
    parse_path,
    remove_error,
)
from batch_ims.manifest.group import build_many, factorize_strings, split_groups
from batch_ims.manifest.judge import check_entry, judge_bad_id, judge_image
from batch_ims.manifest.layout import Entries
from batch_ims.manifest.rules import IMS, AttributeRules
from batch_ims.manifest.table import INDEX, BoolArray, IntArray, ObjArray, object_array
from batch_ims.models import ImageTask, InvalidItem, Op, OpName, RowError

_BLOCK: Final = 4096
_UUID_CHARS: Final = str.maketrans("", "", "0123456789abcdef-\n")
_UUID_CANONICAL: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class Images:
    """Image ids of the data rows: `row_image[i]` indexes `ids`, or is -1 (not a UUID)."""

    ids: list[str]
    row_image: IntArray


def validate_entries(
    entries: Entries, rules: AttributeRules = IMS
) -> tuple[list[ImageTask], list[InvalidItem]]:
    """Tasks in order of first appearance; invalid items in order of their first row."""
    with _gc_paused():
        images = resolve_images(entries.row_ids)
        entry_image = images.row_image if entries.one_per_row else images.row_image[entries.row]
        entry_ops, suspect = _screen(entries, rules)
        slow = _images_needing_a_look(entries, images, entry_image, suspect)
        del suspect
        needs_look = _entries_needing_a_look(entry_image, slow)
        grouped = _group_fast_ops(entry_image, needs_look, entry_ops, len(images.ids))
        del entry_ops  # the ops now live in their tuples; free the rest before more objects
        tasks = _build_tasks(entries, grouped, images.ids)
        present = grouped.present
        del grouped
        if not needs_look.any() and not entries.problems:
            return tasks, []
        slots: list[ImageTask | None] = [None] * len(images.ids)
        for index, task in zip(present.tolist(), tasks, strict=True):
            slots[index] = task
        invalid = _judge_slow(entries, images, entry_image, needs_look, slots, rules)
        return [t for t in slots if t is not None], invalid


def resolve_images(raw_ids: ObjArray) -> Images:
    """Normalise ids (trimmed, lower-case); one index per image, in order of first appearance."""
    codes, texts = factorize_strings(raw_ids)
    canonical = _canonical_mask(texts)
    if canonical.all():
        return Images(texts, codes.astype(INDEX))
    index_of: dict[str, int] = {}
    unique_image = np.empty(len(texts), dtype=INDEX)
    for position, text in enumerate(texts):
        normal = text if canonical[position] else normalize_image_id(text)
        unique_image[position] = (
            -1 if normal is None else index_of.setdefault(normal, len(index_of))
        )
    return Images(list(index_of), unique_image[codes])


def _canonical_mask(texts: list[str]) -> BoolArray:
    """True where a text is already a canonical UUID; checked a block at a time in C."""
    mask = np.zeros(len(texts), dtype=bool)
    for start in range(0, len(texts), _BLOCK):
        block = texts[start : start + _BLOCK]
        if _all_canonical(block):
            mask[start : start + len(block)] = True
        else:
            mask[start : start + len(block)] = [
                _UUID_CANONICAL.fullmatch(t) is not None for t in block
            ]
    return mask


def _all_canonical(block: list[str]) -> bool:
    n = len(block)
    joined = "\n".join(block)
    return (
        len(joined) == 37 * n - 1
        and joined.count("\n") == n - 1
        and joined[36::37] == "\n" * (n - 1)
        and not joined.translate(_UUID_CHARS)
        and joined.count("-") == 4 * n
        and all(joined[p::37] == "-" * n for p in (8, 13, 18, 23))
    )


def _screen(entries: Entries, rules: AttributeRules) -> tuple[ObjArray, BoolArray]:
    """Per entry: its op if it passed every screen (else None), and whether it needs a look."""
    n = len(entries.row)
    made: ObjArray = np.empty(n, dtype=object)
    suspect = np.zeros(n, dtype=bool)
    op_names = [parse_op(text) for text in entries.op_texts]
    width = max(len(entries.path_texts), 1)
    key = entries.op_codes.astype(np.int64) * width + entries.path_codes
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for block in np.split(order, bounds) if n else []:
        code = int(key[block[0]])
        op = op_names[code // width]
        attribute = parse_path(entries.path_texts[code % width])
        if op is None or attribute_error(attribute, rules) is not None:
            suspect[block] = True
        elif op == "remove":
            suspect[block] = remove_error(attribute, rules) is not None
            made[block] = Op("remove", "/" + attribute)
        elif entries.values is None:
            suspect[block] = True
        else:
            ops, bad = _screen_values(op, attribute, entries.values[block].tolist(), rules)
            made[block] = ops
            suspect[block] = bad
    return made, suspect


def _screen_values(
    op: OpName, attribute: str, values: list[str], rules: AttributeRules
) -> tuple[ObjArray, BoolArray]:
    n, path = len(values), "/" + attribute
    if attribute in rules.coded:  # few distinct values: check each once, share the Op objects
        distinct: dict[str, Op | None] = {}
        for value in dict.fromkeys(values):
            sent, problem = check_value(attribute, value, rules)
            distinct[value] = None if problem else Op(op, path, sent)
        found = list(map(distinct.__getitem__, values))
        if None not in distinct.values():
            return object_array(found), np.zeros(n, dtype=bool)
        bad = np.fromiter(map(operator.is_, found, repeat(None)), dtype=bool, count=n)
        return object_array(found), bad
    bad = ~np.fromiter(map(str.isprintable, values), dtype=bool, count=n)
    limit = rules.max_lengths.get(attribute)
    if limit is not None:
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=n)
        bad |= lengths > limit
        if attribute == "name":
            bad |= lengths == 0
            bad |= np.fromiter(map(operator.is_not, values, map(str.strip, values)), bool, n)
    return object_array(build_many(Op, n, op=op, path=path, value=values)), bad


def _images_needing_a_look(
    entries: Entries, images: Images, entry_image: IntArray, suspect: BoolArray
) -> BoolArray:
    """Images with a suspect entry, a repeated attribute, or a row-level problem."""
    slow = np.zeros(len(images.ids), dtype=bool)
    slow[entry_image[suspect & (entry_image >= 0)]] = True
    slow[_repeated_images(entries, entry_image)] = True
    problem_rows = np.fromiter(entries.problems, np.int64, len(entries.problems))
    problem_images = images.row_image[problem_rows]
    slow[problem_images[problem_images >= 0]] = True
    return slow


def _entries_needing_a_look(entry_image: IntArray, slow: BoolArray) -> BoolArray:
    """Entries of an image that failed a screen, or whose image id is not a UUID."""
    valid = entry_image >= 0
    look = ~valid
    look[valid] = slow[entry_image[valid]]
    return look


def _repeated_images(entries: Entries, entry_image: IntArray) -> IntArray:
    """Images with two entries for one attribute (merge or conflict: the judge decides)."""
    import pandas as pd

    numbering: dict[str, int] = {}
    attribute_code = np.asarray(
        [numbering.setdefault(parse_path(t), len(numbering)) for t in entries.path_texts],
        dtype=np.int64,
    )
    mask = entry_image >= 0
    width = np.int64(max(len(numbering), 1))
    key = entry_image[mask].astype(np.int64) * width + attribute_code[entries.path_codes[mask]]
    repeated = pd.Series(key).duplicated(keep=False).to_numpy()
    return np.unique(entry_image[mask][repeated])


@dataclass(frozen=True, slots=True)
class _Grouped:
    """Entries of the images that passed every screen, grouped by image in manifest order."""

    order: IntArray | slice  # entry indexes; a slice when the manifest is already grouped
    image: IntArray  # their image indexes
    present: IntArray  # the images, ascending
    op_tuples: list[tuple[Op, ...]]  # one per present image


def _group_fast_ops(
    entry_image: IntArray, needs_look: BoolArray, made: ObjArray, images: int
) -> _Grouped:
    order: IntArray | slice
    if needs_look.any():
        fast = np.flatnonzero(~needs_look)
        order = fast[np.argsort(entry_image[fast], kind="stable")]
    elif (entry_image[1:] >= entry_image[:-1]).all():
        order = slice(None)  # rows of each image adjacent, images in order: nothing to move
    else:
        order = np.argsort(entry_image, kind="stable")
    image = entry_image[order]
    counts = np.bincount(image, minlength=images)
    present = np.flatnonzero(counts)
    return _Grouped(order, image, present, split_groups(made[order], counts[present]))


def _build_tasks(entries: Entries, grouped: _Grouped, ids: list[str]) -> list[ImageTask]:
    """One task per present image, without a Python step per entry."""
    image = grouped.image
    order = grouped.order
    rows = entries.row_numbers[order if entries.one_per_row else entries.row[order]]
    if entries.layout == "wide":  # several cells of one row: list the row once
        first = np.ones(len(rows), dtype=bool)
        first[1:] = (image[1:] != image[:-1]) | (rows[1:] != rows[:-1])
        image, rows = image[first], rows[first]
    counts = np.bincount(image, minlength=len(ids))
    row_tuples = split_groups(rows, counts[grouped.present])
    del rows
    present = grouped.present
    names = ids if len(present) == len(ids) else [ids[i] for i in present.tolist()]
    return build_many(ImageTask, len(names), image_id=names, ops=grouped.op_tuples, rows=row_tuples)


def _judge_slow(
    entries: Entries,
    images: Images,
    entry_image: IntArray,
    needs_look: BoolArray,
    slots: list[ImageTask | None],
    rules: AttributeRules,
) -> list[InvalidItem]:
    """Exact rules for the images that need them, and for rows whose id is not a UUID."""
    by_image: dict[int, list[int]] = {}
    by_bad_row: dict[int, list[int]] = {}
    for index in np.flatnonzero(needs_look).tolist():
        image = int(entry_image[index])
        if image >= 0:
            by_image.setdefault(image, []).append(index)
        else:
            by_bad_row.setdefault(int(entries.row[index]), []).append(index)
    row_errors = _row_errors(entries)
    image_rows: dict[int, list[int]] = {}
    for row in row_errors:
        image = int(images.row_image[row])
        if image >= 0:
            image_rows.setdefault(image, []).append(row)
        else:
            by_bad_row.setdefault(row, [])
    invalid: list[InvalidItem] = []
    for image in sorted(by_image.keys() | image_rows.keys()):
        checked = [check_entry(entries, i, rules) for i in by_image.get(image, [])]
        extra = [e for row in image_rows.get(image, []) for e in row_errors[row]]
        result = judge_image(images.ids[image], checked, extra)
        if isinstance(result, ImageTask):
            slots[image] = result
        else:
            invalid.append(result)
    for row, indexes in by_bad_row.items():
        number = int(entries.row_numbers[row])
        checked = [check_entry(entries, i, rules) for i in indexes]
        raw = str(entries.row_ids[row])
        invalid.append(judge_bad_id(raw, number, checked, row_errors.get(row, [])))
    invalid.sort(key=lambda item: item.rows[0])
    return invalid


def _row_errors(entries: Entries) -> dict[int, list[RowError]]:
    return {
        row: [RowError(int(entries.row_numbers[row]), *problem) for problem in problems]
        for row, problems in entries.problems.items()
    }


@contextmanager
def _gc_paused() -> Iterator[None]:
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
