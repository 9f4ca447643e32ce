"""Immutable values that flow through the pipeline: operations, work items, outcomes."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Literal

_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

OpName = Literal["add", "replace", "remove"]


class Status(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INVALID = "invalid"
    SKIPPED = "skipped"
    ABORTED = "aborted"


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
    return hashlib.sha256(ops_json(ops).encode("utf-8")).hexdigest()[:16]


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
    extra: dict[str, str] = field(default_factory=dict)


_second_text: tuple[int, str] = (-1, "")


def utc_now_text() -> str:
    """The UTC time with milliseconds, e.g. 2026-11-29T09:20:21.123Z (formatted once a second)."""
    global _second_text
    now = time.time()
    second = int(now)
    if second != _second_text[0]:
        _second_text = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_second_text[1]}.{int((now - second) * 1000):03d}Z"


def unsent(
    task: ImageTask | InvalidItem,
    status: Status,
    note: str,
    *,
    code: str = "",
    message: str = "",
    holds: bool = False,
) -> Outcome:
    """The outcome of an image that was not sent (skipped, aborted, invalid)."""
    return Outcome(
        image_id=task.image_id,
        status=status,
        rows=task.rows,
        ops=task.ops,
        error_code=code,
        error_message=message,
        finished_at=utc_now_text(),
        note=note,
        holds=holds,
    )
