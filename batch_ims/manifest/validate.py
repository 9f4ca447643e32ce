"""Entries -> valid rows and InvalidItem, column-wise so that a million rows stay cheap.

Each distinct image id, op and path text is parsed once; values are screened per
(op, attribute) group with C-level passes (length, printable, trimmed); repeats of one
attribute within an image are found by hashing. Only images that fail a screen go through
the exact rules in `judge`, which produce every message; the others stay in columns
(`valid.ValidRows`), from which tasks are built when a run asks for them.
"""

from __future__ import annotations

import dataclasses
import operator
import re
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
from batch_ims.manifest.group import factorize_strings
from batch_ims.manifest.judge import check_entry, judge_bad_id, judge_image
from batch_ims.manifest.layout import Entries
from batch_ims.manifest.rules import AttributeRules
from batch_ims.manifest.table import INDEX, BoolArray, IntArray, ObjArray, object_array
from batch_ims.manifest.valid import Kind, ValidRows, gc_paused
from batch_ims.models import ImageTask, InvalidItem, OpName, RowError

_BLOCK: Final = 4096
_UUID_CHARS: Final = str.maketrans("", "", "0123456789abcdef-\n")
_UUID_CANONICAL: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class Images:
    """Image ids of the data rows: `row_image[i]` indexes `ids`, or is -1 (not a UUID)."""

    ids: list[str]
    row_image: IntArray


def validate_entries(
    entries: Entries, rules: AttributeRules
) -> tuple[list[ImageTask], list[InvalidItem]]:
    """Tasks in order of first appearance; invalid items in order of their first row."""
    valid, invalid = validate_columns(entries, rules)
    return valid.tasks(), invalid


def validate_columns(
    entries: Entries, rules: AttributeRules
) -> tuple[ValidRows, list[InvalidItem]]:
    """The valid rows in columns (tasks built on demand); invalid items by their first row."""
    with gc_paused():
        images = resolve_images(entries.row_ids)
        entry_image = images.row_image if entries.one_per_row else images.row_image[entries.row]
        screened, suspect = _screen(entries, rules)
        slow = _images_needing_a_look(entries, images, entry_image, suspect)
        del suspect
        needs_look = _entries_needing_a_look(entry_image, slow)
        valid = _fast_rows(entries, entry_image, needs_look, screened, images.ids)
        del screened
        if not needs_look.any() and not entries.problems:
            return valid, []
        judged, invalid = _judge_slow(entries, images, entry_image, needs_look, rules)
        return dataclasses.replace(valid, judged=judged), invalid


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


@dataclass(frozen=True, slots=True)
class _Screened:
    """Per entry: its kind of change (-1: not screened) and the value to send."""

    kind: IntArray
    kinds: tuple[Kind, ...]
    sent: ObjArray


def _screen(entries: Entries, rules: AttributeRules) -> tuple[_Screened, BoolArray]:
    """Per entry: its kind and value to send, and whether it needs a look (failed a screen)."""
    n = len(entries.row)
    sent: ObjArray = np.empty(n, dtype=object)
    kind = np.full(n, -1, dtype=INDEX)
    kinds: dict[tuple[OpName, str], int] = {}
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
            continue
        if op == "remove":
            suspect[block] = remove_error(attribute, rules) is not None
        elif entries.values is None:
            suspect[block] = True
            continue
        else:
            values, bad = _screen_values(attribute, entries.values[block].tolist(), rules)
            sent[block] = values
            suspect[block] = bad
        kind[block] = kinds.setdefault((op, attribute), len(kinds))
    listed = tuple(Kind(op, attribute, attribute in rules.coded) for op, attribute in kinds)
    return _Screened(kind, listed, sent), suspect


def _screen_values(
    attribute: str, values: list[str], rules: AttributeRules
) -> tuple[ObjArray, BoolArray]:
    """The values to send, and which fail a screen."""
    n = len(values)
    if attribute in rules.coded:  # few distinct values: check each once
        distinct: dict[str, str | None] = {}
        for value in dict.fromkeys(values):
            normal, problem = check_value(attribute, value, rules)
            distinct[value] = None if problem else normal
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
    return object_array(values), bad


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


def _fast_rows(
    entries: Entries,
    entry_image: IntArray,
    needs_look: BoolArray,
    screened: _Screened,
    ids: list[str],
) -> ValidRows:
    """The entries of the images that passed every screen, grouped by image in manifest order."""
    order: IntArray | slice
    if needs_look.any():
        fast = np.flatnonzero(~needs_look)
        order = fast[np.argsort(entry_image[fast], kind="stable")]
    elif (entry_image[1:] >= entry_image[:-1]).all():
        order = slice(None)  # rows of each image adjacent, images in order: nothing to move
    else:
        order = np.argsort(entry_image, kind="stable")
    rows = entries.row_numbers[order if entries.one_per_row else entries.row[order]]
    return ValidRows(
        ids=ids,
        image=entry_image[order],
        kind=screened.kind[order],
        sent=screened.sent[order],
        rows=rows,
        kinds=screened.kinds,
        wide=entries.layout == "wide",
    )


def _judge_slow(
    entries: Entries,
    images: Images,
    entry_image: IntArray,
    needs_look: BoolArray,
    rules: AttributeRules,
) -> tuple[dict[int, ImageTask], list[InvalidItem]]:
    """Exact rules for the images that need them, and for rows whose id is not a UUID:
    the images found valid after all (merged repeats), and the invalid items."""
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
    judged: dict[int, ImageTask] = {}
    invalid: list[InvalidItem] = []
    for image in sorted(by_image.keys() | image_rows.keys()):
        checked = [check_entry(entries, i, rules) for i in by_image.get(image, [])]
        extra = [e for row in image_rows.get(image, []) for e in row_errors[row]]
        result = judge_image(images.ids[image], checked, extra)
        if isinstance(result, ImageTask):
            judged[image] = result
        else:
            invalid.append(result)
    for row, indexes in by_bad_row.items():
        number = int(entries.row_numbers[row])
        checked = [check_entry(entries, i, rules) for i in indexes]
        raw = str(entries.row_ids[row])
        invalid.append(judge_bad_id(raw, number, checked, row_errors.get(row, [])))
    invalid.sort(key=lambda item: item.rows[0])
    return judged, invalid


def _row_errors(entries: Entries) -> dict[int, list[RowError]]:
    return {
        row: [RowError(int(entries.row_numbers[row]), *problem) for problem in problems]
        for row, problems in entries.problems.items()
    }
