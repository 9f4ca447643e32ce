"""Which images this run sends: shards, --retry-failed-from, --resume. Pure functions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from batch_ims.models import ImageTask, Outcome, Status, ops_digest, unsent
from batch_ims.settings import Shard

RETRYABLE_REPORT_STATUSES = frozenset({Status.FAILED.value, Status.ABORTED.value})


def shard_of(image_id: str, count: int) -> int:
    """A stable shard number for an image id: the same on every machine and every run."""
    digest = hashlib.sha256(image_id.strip().lower().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def in_shard(image_id: str, shard: Shard | None) -> bool:
    return shard is None or shard_of(image_id, shard.count) == shard.index


@dataclass(frozen=True, slots=True)
class Selection:
    send: list[ImageTask]
    skipped: list[Outcome]


def _skipped(task: ImageTask, note: str, *, holds: bool = False) -> Outcome:
    return unsent(task, Status.SKIPPED, note, holds=holds)


def select(
    tasks: Iterable[ImageTask],
    *,
    earlier_report: Mapping[str, str] | None,
    journal_done: Mapping[str, str] | None,
) -> Selection:
    """Split tasks into those to send and those reported `skipped` (with the reason)."""
    send: list[ImageTask] = []
    skipped: list[Outcome] = []
    for task in tasks:
        if earlier_report is not None:
            earlier = earlier_report.get(task.image_id)
            if earlier not in RETRYABLE_REPORT_STATUSES:
                shown = earlier or "absent"
                skipped.append(
                    _skipped(task, f"not retried: status in the earlier report: {shown}")
                )
                continue
        if journal_done is not None and journal_done.get(task.image_id) == ops_digest(task.ops):
            skipped.append(
                _skipped(task, "already succeeded with the same ops (journal)", holds=True)
            )
            continue
        send.append(task)
    return Selection(send, skipped)
