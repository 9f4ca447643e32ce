"""Immutable values that flow through the pipeline: operations, work items, outcomes."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from itertools import compress
from typing import Literal, Protocol, TypeVar

from batch_ims.redaction import clip

T_co = TypeVar("T_co", covariant=True)
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

OpName = Literal["add", "replace", "remove"]


class Status(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INVALID = "invalid"
    SKIPPED = "skipped"
    ABORTED = "aborted"
    DRIFTED = "drifted"  # read first: no longer what the reviewed plan showed; not sent


@dataclass(frozen=True, slots=True)
class Op:
    """One JSON Patch operation. `path` always has its leading slash."""

    op: OpName
    path: str
    value: str | None = None

    @property
    def attribute(self) -> str:
        return self.path[1:]

    def as_json(self) -> dict[str, str]:
        if self.op == "remove":
            return {"op": self.op, "path": self.path}
        return {"op": self.op, "path": self.path, "value": self.value or ""}


@lru_cache(maxsize=4096)
def ops_json(ops: tuple[Op, ...]) -> str:
    """The PATCH body, compact JSON, non-ASCII kept as is."""
    return _COMPACT_JSON.encode([o.as_json() for o in ops])


@lru_cache(maxsize=4096)
def ops_digest(ops: tuple[Op, ...]) -> str:
    """A stable digest of an image's ops, used by the journal to recognise a repeat."""
    return text_digest(ops_json(ops))


def text_digest(text: str) -> str:
    """`ops_digest` of the ops whose `ops_json` is `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def rows_text(rows: Iterable[int]) -> str:
    """Manifest row numbers as shown in the report and the logs alike: `2;4;5`."""
    return ";".join(map(str, rows))


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one manifest row is invalid; `row` is the spreadsheet row number (header = 1)."""

    row: int
    column: str
    value: str
    message: str

    def describe(self) -> str:
        shown = self.value if len(self.value) <= 40 else self.value[:37] + "..."
        return f"row {self.row}, column {self.column!r}, value {shown!r}: {self.message}"


@dataclass(frozen=True, slots=True)
class ImageTask:
    """All valid rows of one image, merged into one PATCH body in manifest order."""

    image_id: str
    ops: tuple[Op, ...]
    rows: tuple[int, ...]


class Walked(Protocol[T_co]):
    """Items counted, and walked as often as needed: a list, or records made afresh at
    each walk (from the manifest's columns, or from decisions kept one byte an item)."""

    def __iter__(self) -> Iterator[T_co]: ...
    def __len__(self) -> int: ...


Tasks = Walked[ImageTask]  # the image tasks as a run walks them


class Kept:
    """The tasks of `source` whose byte in `mask` is 1: one byte an image, decided once,
    so that no record is held between walks (`source` gives the same tasks in the same
    order at every walk)."""

    def __init__(self, source: Tasks, mask: bytes) -> None:
        self._source = source
        self._mask = mask
        self._count = mask.count(1)

    def __iter__(self) -> Iterator[ImageTask]:
        return compress(self._source, self._mask)

    def __len__(self) -> int:
        return self._count


@dataclass(frozen=True, slots=True)
class InvalidItem:
    """An image with at least one invalid row, or one row whose image_id is not a UUID."""

    image_id: str
    rows: tuple[int, ...]
    ops: tuple[Op, ...]
    errors: tuple[RowError, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one image (or one invalid row): one report row."""

    image_id: str
    status: Status
    rows: tuple[int, ...]
    ops: tuple[Op, ...]
    http_status: int | None = None
    error_code: str = ""
    error_message: str = ""
    attempts: int = 0
    request_id: str = ""
    duration_ms: int = 0
    finished_at: str = ""
    note: str = ""
    holds: bool = False  # the image is known to hold the manifest's values (journal: done)
    task_digest: str = ""  # digest of the manifest's ops when `ops` were reduced before sending
    target: str = ""  # a run over several targets: which one (`Explained.identity`)
    ops_text: str = ""  # `ops_json(ops)` when it was made already (the body's text), else ""

    def ops_shown(self) -> str:
        """The ops as compact JSON: the report's `ops` cell."""
        return self.ops_text or ops_json(self.ops)

    def digest(self) -> str:
        """The journal's digest: that of the manifest's ops for this image."""
        if self.task_digest:
            return self.task_digest
        return text_digest(self.ops_text) if self.ops_text else ops_digest(self.ops)


_second_text: tuple[int, str] = (-1, "")


def utc_now_text() -> str:
    """The UTC time with milliseconds, e.g. 2026-11-29T09:20:21.123Z (formatted once a second)."""
    global _second_text
    now = time.time()
    second = int(now)
    if second != _second_text[0]:
        _second_text = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_second_text[1]}.{int((now - second) * 1000):03d}Z"


@dataclass(frozen=True, slots=True)
class Finished:
    """An image's outcome plus what the stop policy and the undo manifest need to know."""

    outcome: Outcome
    auth_failure: bool = False  # the answer says the credentials are wrong
    may_have_applied: bool = False  # a PATCH was accepted, or one got no answer


def sent(
    task: ImageTask,
    status: Status,
    *,
    http_status: int | None,
    attempts: int,
    request_id: str,
    duration_ms: int,
    code: str = "",
    message: str = "",
    note: str = "",
    holds: bool = False,
    ops: tuple[Op, ...] | None = None,
    ops_text: str = "",
) -> Outcome:
    """The outcome of an image whose requests were sent: `attempts` PATCHes really went out.

    `ops` are the ones sent when fewer than the manifest's (the journal then keeps the
    manifest's digest, so that --resume recognises the image); `ops_text` is their
    `ops_json`, when the caller made it already.
    """
    reduced = ops is not None and ops != task.ops
    return Outcome(
        image_id=task.image_id,
        status=status,
        rows=task.rows,
        ops=ops if ops is not None else task.ops,
        http_status=http_status,
        error_code=code,
        error_message=message,
        attempts=attempts,
        request_id=request_id,
        duration_ms=duration_ms,
        finished_at=utc_now_text(),
        note=note,
        holds=holds,
        task_digest=ops_digest(task.ops) if reduced else "",
        ops_text=ops_text,
    )


def invalid(item: InvalidItem) -> Outcome:
    """An image with an invalid row: reported with every error, never sent."""
    message = "; ".join(error.describe() for error in item.errors)
    return unsent(item, Status.INVALID, "", code="invalid_row", message=message)


HIDDEN_ROW = "hidden in the workbook (an Excel filter, or hidden by hand)"
HIDDEN_SKIPPED = f"{HIDDEN_ROW}: not sent (--hidden-rows skip)"


def hidden_skipped(item: ImageTask | InvalidItem) -> Outcome:
    """An image's rows hidden in the workbook, left out on purpose: reported, never sent."""
    return unsent(item, Status.SKIPPED, HIDDEN_SKIPPED)


def internal_error(task: ImageTask, exc: Exception, *, attempts: int = 0) -> Outcome:
    """A bug in batch-ims while handling `task`: the image is still reported."""
    return Outcome(
        image_id=task.image_id,
        status=Status.FAILED,
        rows=task.rows,
        ops=task.ops,
        error_code="internal_error",
        error_message=clip(f"{type(exc).__name__}: {exc}", 300, marker=""),
        attempts=attempts,
        finished_at=utc_now_text(),
        note="a bug in batch-ims; the change may or may not have been applied",
    )


def unsent(
    task: ImageTask | InvalidItem,
    status: Status,
    note: str,
    *,
    code: str = "",
    message: str = "",
    holds: bool = False,
    attempts: int = 0,
) -> Outcome:
    """The outcome of an image not sent, or cut off before its answer (`attempts` > 0)."""
    return Outcome(
        image_id=task.image_id,
        status=status,
        rows=task.rows,
        ops=task.ops,
        error_code=code,
        error_message=message,
        attempts=attempts,
        finished_at=utc_now_text(),
        note=note,
        holds=holds,
    )
