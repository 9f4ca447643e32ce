"""Which images this run sends: shards, --retry-failed-from, --resume. Pure functions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from batch_ims.models import (
    ImageTask,
    Kept,
    Outcome,
    Status,
    Tasks,
    Walked,
    ops_digest,
    unsent,
)
from batch_ims.settings import Shard

RETRYABLE_REPORT_STATUSES = frozenset({Status.FAILED.value, Status.ABORTED.value})


def shard_of(image_id: str, count: int) -> int:
    """A stable shard number for an image id: the same on every machine and every run."""
    digest = hashlib.sha256(image_id.strip().lower().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def in_shard(image_id: str, shard: Shard | None) -> bool:
    return shard is None or shard_of(image_id, shard.count) == shard.index


# what a selection decided for each task, one byte each, in walk order
_ELSEWHERE, _SEND, _DONE, _NOT_RETRIED = 0, 1, 2, 3
_SEND_MASK = bytes(int(code == _SEND) for code in range(256))


class Skipped:
    """The `skipped` outcomes of a selection, made as they are walked (a --resume of a
    large run skips most images: their outcomes are recorded, not kept)."""

    def __init__(
        self, tasks: Tasks, verdicts: bytes, earlier_report: Mapping[str, str] | None
    ) -> None:
        self._tasks = tasks
        self._verdicts = verdicts
        self._earlier_report = earlier_report or {}
        self._count = verdicts.count(_DONE) + verdicts.count(_NOT_RETRIED)

    def __iter__(self) -> Iterator[Outcome]:
        for task, verdict in zip(self._tasks, self._verdicts, strict=True):
            if verdict == _DONE:
                yield _skipped(task, "already succeeded with the same ops (journal)", holds=True)
            elif verdict == _NOT_RETRIED:
                shown = self._earlier_report.get(task.image_id) or "absent"
                yield _skipped(task, f"not retried: status in the earlier report: {shown}")

    def __len__(self) -> int:
        return self._count


@dataclass(frozen=True, slots=True)
class Selection:
    send: Tasks
    skipped: Walked[Outcome]


def _skipped(task: ImageTask, note: str, *, holds: bool = False) -> Outcome:
    return unsent(task, Status.SKIPPED, note, holds=holds)


def select(
    tasks: Tasks,
    *,
    earlier_report: Mapping[str, str] | None,
    journal_done: Mapping[str, str] | None,
    shard: Shard | None = None,
) -> Selection:
    """Split tasks into those to send and those reported `skipped` (with the reason);
    tasks of another shard are neither. With nothing to choose, `tasks` are sent as they
    are; otherwise one pass decides (a byte per task), and `send` and `skipped` walk
    `tasks` again by those decisions."""
    if earlier_report is None and journal_done is None and shard is None:
        return Selection(tasks, [])

    def verdict(task: ImageTask) -> int:
        if not in_shard(task.image_id, shard):
            return _ELSEWHERE
        if (
            earlier_report is not None
            and earlier_report.get(task.image_id) not in RETRYABLE_REPORT_STATUSES
        ):
            return _NOT_RETRIED
        if journal_done is not None and journal_done.get(task.image_id) == ops_digest(task.ops):
            return _DONE
        return _SEND

    verdicts = bytes(map(verdict, tasks))
    return Selection(
        Kept(tasks, verdicts.translate(_SEND_MASK)), Skipped(tasks, verdicts, earlier_report)
    )
