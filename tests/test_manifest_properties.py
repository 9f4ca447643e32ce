"""Property tests: whatever the file holds, the reader answers with a Manifest or a
ManifestError, and valid rows always come out as the right ops."""

from __future__ import annotations

import csv
import io
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_ims.clouds.huawei.rules import IMS
from batch_ims.errors import ManifestError
from batch_ims.manifest import Manifest, load_manifest, validate
from batch_ims.manifest.attributes import (
    attribute_error,
    check_value,
    normalize_image_id,
    parse_op,
    parse_path,
    remove_error,
)
from batch_ims.models import Op
from batch_ims.preview import op_table

IDS = [str(uuid.UUID(int=n * 0x1F2E3D4C5B6A79880123456789ABCDEF)) for n in range(1, 6)]
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def file_with(name: str, data: bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        yield path


def load_or_error(path: Path, **options: Any) -> Manifest | ManifestError:
    try:
        return load_manifest(path, rules=IMS, **options)
    except ManifestError as error:
        caught = error
    assert "\n" not in str(caught)  # one line for the user, never a traceback
    return caught


# ---- arbitrary input never escapes as anything but a ManifestError ----------------------------

HEADERS = st.sampled_from(
    ["", "image_id,op,path,value\n", "image_id;path;value\n", "image_id,name,min_ram\n"]
)
CSVISH = st.text(alphabet=',;\t\n\r" ab/_-0123456789ef<>', max_size=300)


@SETTINGS
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".csv", ".txt", ".tsv", ".xlsx"]))
def test_random_bytes_give_a_manifest_or_a_manifest_error(data: bytes, suffix: str) -> None:
    with file_with("m" + suffix, data) as path:
        load_or_error(path)


@SETTINGS
@given(
    header=HEADERS,
    body=CSVISH,
    encoding=st.sampled_from(["utf-8", "utf-16", "gb18030"]),
    forced=st.sampled_from([None, "utf-8", "latin-1"]),
)
def test_csv_like_text_gives_a_manifest_or_a_manifest_error(
    header: str, body: str, encoding: str, forced: str | None
) -> None:
    with file_with("m.csv", (header + body).encode(encoding)) as path:
        load_or_error(path, encoding=forced)


CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=20),
    st.sampled_from(IDS),
    st.dates(),
    st.datetimes(),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.lists(
        st.sampled_from(["image_id", "op", "path", "value", "name", "min_ram", "Tag", "", "x"]),
        min_size=1,
        max_size=5,
    ),
    rows=st.lists(st.lists(CELLS, max_size=6), max_size=6),
)
def test_random_workbooks_give_a_manifest_or_a_manifest_error(
    header: list[str], rows: list[list[Any]]
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "w.xlsx"
        book.save(path)
        load_or_error(path)


# ---- random well-formed manifests: every row accounted for, valid ops as the rules say --------

RAW_IDS = st.one_of(
    st.sampled_from(IDS),
    st.sampled_from(IDS).map(lambda u: f" {u.upper()} "),
    st.sampled_from(["", "web-01", IDS[0][:-1]]),
)
RAW_OPS = st.sampled_from(["add", "replace", "remove", "", "ADD", " Remove ", "delete"])
RAW_PATHS = st.sampled_from(
    ["name", "/name", "__description", "min_ram", "__support_kvm", "hw_firmware_type", "tag",
     "/tag", "env.stage", "status", "Tag", "a/b", "", "__suport_kvm"]
)  # fmt: skip
RAW_VALUES = st.one_of(
    st.sampled_from(["", "x", "true", "FALSE", "1024", "-1", "uefi", "BIOS", " pad ", "0001"]),
    st.sampled_from(["a\x1bb", "tab\there", "line\nbreak", "cr\r", "\u00a0nbsp", "x" * 129]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=40),
)
ROWS = st.lists(st.tuples(RAW_IDS, RAW_OPS, RAW_PATHS, RAW_VALUES), min_size=1, max_size=25)


def write_csv(rows: list[tuple[str, str, str, str]], encoding: str) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["image_id", "op", "path", "value"])
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def oracle_row(op_text: str, path_text: str, value: str) -> Op | None:
    """The rules, applied the plain way: one row at a time."""
    op, attribute = parse_op(op_text), parse_path(path_text)
    if op is None or attribute_error(attribute, rules=IMS) is not None:
        return None
    if op == "remove":
        return None if remove_error(attribute, rules=IMS) else Op("remove", "/" + attribute)
    sent, problem = check_value(attribute, value, rules=IMS)
    return None if problem else Op(op, "/" + attribute, sent)


def oracle(rows: list[tuple[str, str, str, str]]) -> dict[str, tuple[Op, ...] | None]:
    """image -> its ops, or None when the image is invalid."""
    per_image: dict[str, list[Op | None]] = {}
    for raw_id, op, path, value in rows:
        image = normalize_image_id(raw_id)
        if image is not None:
            per_image.setdefault(image, []).append(oracle_row(op, path, value))
    result: dict[str, tuple[Op, ...] | None] = {}
    for image, ops in per_image.items():
        merged: dict[str, Op] = {}
        valid = all(o is not None for o in ops)
        for o in ops:
            if o is not None and merged.setdefault(o.path, o) != o:
                valid = False
        result[image] = tuple(merged.values()) if valid else None
    return result


def plausible(rows: list[tuple[str, str, str, str]]) -> list[tuple[str, str, str, str]]:
    """Leave out rows the reader skips as blank: no image_id and only white space."""
    return [(i, o, p, v) for i, o, p, v in rows if i or (o + p + v).strip()]


@SETTINGS
@given(rows=ROWS, encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]))
def test_random_manifest_rows_are_each_accounted_for_and_follow_the_rules(
    rows: list[tuple[str, str, str, str]], encoding: str
) -> None:
    rows = plausible(rows)
    if not rows:
        return
    # random text carries no evidence of its code page: GB18030 is named, not detected
    named = "gb18030" if encoding == "gb18030" else None
    with file_with("m.csv", write_csv(rows, encoding)) as path:
        manifest = load_manifest(path, encoding=named, rules=IMS)
    seen = sorted(r for t in manifest.tasks for r in t.rows)
    seen += [r for item in manifest.invalid for r in item.rows]
    assert sorted(seen) == list(range(2, len(rows) + 2))
    expected = oracle(rows)
    assert {t.image_id: t.ops for t in manifest.tasks} == {
        image: ops for image, ops in expected.items() if ops is not None
    }
    assert [t.image_id for t in manifest.tasks] == [i for i, o in expected.items() if o is not None]


VALID_ROWS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(IDS), st.just("replace"), st.just("name"),
                  st.text(st.characters(codec="utf-8", categories=("L", "N")), min_size=1,
                          max_size=128)),
        st.tuples(st.sampled_from(IDS), st.just("add"), st.just("__support_kvm"),
                  st.sampled_from(["true", "false"])),
        st.tuples(st.sampled_from(IDS), st.just("add"), st.just("min_ram"),
                  st.integers(0, 2**31 - 1).map(str)),
        st.tuples(st.sampled_from(IDS), st.just("remove"), st.just("old_tag"), st.just("")),
    ),
    min_size=1,
    max_size=30,
)  # fmt: skip


@SETTINGS
@given(rows=VALID_ROWS)
def test_valid_rows_round_trip_into_ops_in_manifest_order(
    rows: list[tuple[str, str, str, str]],
) -> None:
    first: dict[tuple[str, str], str] = {}
    kept = [r for r in rows if first.setdefault((r[0], r[2]), r[3]) == r[3]]
    with file_with("m.csv", write_csv(kept, "utf-8")) as path:
        manifest = load_manifest(path, rules=IMS)
    expected: dict[str, dict[str, Op]] = {}
    for image, op, attribute, value in kept:
        made = Op("remove", "/old_tag") if op == "remove" else Op(op, "/" + attribute, value)  # type: ignore[arg-type]
        expected.setdefault(image, {}).setdefault(attribute, made)
    assert manifest.invalid == []
    assert [(t.image_id, t.ops) for t in manifest.tasks] == [
        (image, tuple(ops.values())) for image, ops in expected.items()
    ]


@SETTINGS
@given(rows=ROWS)
def test_column_wise_screens_agree_with_the_exact_rules(
    rows: list[tuple[str, str, str, str]],
) -> None:
    rows = plausible(rows)
    if not rows:
        return
    with file_with("m.csv", write_csv(rows, "utf-8")) as path:
        screened = load_manifest(path, rules=IMS)

        def everything_suspect(entries: Any, rules: Any) -> tuple[Any, Any]:
            made, _ = original(entries, rules)
            return made, np.ones(len(entries.row), dtype=bool)

        original = validate._screen
        with mock.patch.object(validate, "_screen", everything_suspect):
            exact = load_manifest(path, rules=IMS)
    assert screened.tasks == exact.tasks
    assert screened.invalid == exact.invalid


WIDE_HEADER = ["image_id", "name", "min_ram", "__support_kvm", "tag", "Env.Stage"]
WIDE_CELLS = st.one_of(st.just(""), st.just("<remove>"), RAW_VALUES)
WIDE_ROWS = st.lists(
    st.tuples(RAW_IDS, WIDE_CELLS, WIDE_CELLS, WIDE_CELLS, WIDE_CELLS, WIDE_CELLS),
    min_size=1,
    max_size=15,
)


def _plausible_wide(rows: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Leave out rows the reader skips as blank."""
    return [r for r in rows if r[0] or "".join(r[1:]).strip()]


def _wide_csv(rows: list[tuple[str, ...]]) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([WIDE_HEADER, *rows])
    return buffer.getvalue().encode("utf-8")


@SETTINGS
@given(rows=WIDE_ROWS)
def test_wide_layout_screens_agree_with_the_exact_rules_and_account_for_rows(
    rows: list[tuple[str, ...]],
) -> None:
    rows = _plausible_wide(rows)
    if not rows:
        return
    with file_with("w.csv", _wide_csv(rows)) as path:
        screened = load_manifest(path, rules=IMS)

        def everything_suspect(entries: Any, rules: Any) -> tuple[Any, Any]:
            made, _ = original(entries, rules)
            return made, np.ones(len(entries.row), dtype=bool)

        original = validate._screen
        with mock.patch.object(validate, "_screen", everything_suspect):
            exact = load_manifest(path, rules=IMS)
    assert (screened.tasks, screened.invalid) == (exact.tasks, exact.invalid)
    seen = [r for t in screened.tasks for r in t.rows] + [
        r for item in screened.invalid for r in item.rows
    ]
    assert sorted(seen) == list(range(2, len(rows) + 2))


def _plan_of_tasks(
    manifest: Manifest,
) -> tuple[int, int, dict[str, tuple[dict[str, int], list[str]]]]:
    table = op_table(manifest.tasks)
    counted = {a: (dict(p.counts), p.samples) for a, p in table.items()}
    return len(manifest.tasks), sum(len(t.ops) for t in manifest.tasks), counted


def _plan_of_columns(
    manifest: Manifest,
) -> tuple[int, int, dict[str, tuple[dict[str, int], list[str]]]]:
    summary = manifest.summary(3)
    counted = {a: (dict(s.counts), list(s.samples)) for a, s in summary.items()}
    return manifest.image_count, manifest.op_count, counted


@SETTINGS
@given(rows=ROWS)
def test_plan_counts_and_samples_from_the_columns_match_the_tasks(
    rows: list[tuple[str, str, str, str]],
) -> None:
    rows = plausible(rows)
    if not rows:
        return
    with file_with("m.csv", write_csv(rows, "utf-8")) as path:
        fresh = load_manifest(path, rules=IMS)
        built = load_manifest(path, rules=IMS)
    assert _plan_of_columns(fresh) == _plan_of_tasks(built)


@SETTINGS
@given(rows=WIDE_ROWS)
def test_wide_plan_counts_and_samples_from_the_columns_match_the_tasks(
    rows: list[tuple[str, ...]],
) -> None:
    rows = _plausible_wide(rows)
    if not rows:
        return
    with file_with("w.csv", _wide_csv(rows)) as path:
        fresh = load_manifest(path, rules=IMS)
        built = load_manifest(path, rules=IMS)
    assert _plan_of_columns(fresh) == _plan_of_tasks(built)


@SETTINGS
@given(rows=ROWS, chunk=st.integers(1, 5))
def test_tasks_built_chunk_by_chunk_are_the_tasks_in_the_same_order(
    rows: list[tuple[str, str, str, str]], chunk: int
) -> None:
    rows = plausible(rows)
    if not rows:
        return
    with file_with("m.csv", write_csv(rows, "utf-8")) as path:
        manifest = load_manifest(path, rules=IMS)
    assert list(manifest.valid.iter_tasks(chunk)) == manifest.tasks


@SETTINGS
@given(rows=WIDE_ROWS, chunk=st.integers(1, 5))
def test_wide_tasks_built_chunk_by_chunk_are_the_tasks_in_the_same_order(
    rows: list[tuple[str, ...]], chunk: int
) -> None:
    rows = _plausible_wide(rows)
    if not rows:
        return
    with file_with("w.csv", _wide_csv(rows)) as path:
        manifest = load_manifest(path, rules=IMS)
    assert list(manifest.valid.iter_tasks(chunk)) == manifest.tasks
