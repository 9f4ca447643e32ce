"""Which images this run sends: shards, --retry-failed-from, --resume. Pure functions."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from batch_ims.models import ImageTask, Kept, Outcome, Status, Tasks, ops_digest, unsent
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
    send: Tasks
    skipped: list[Outcome]


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
    are; otherwise one pass counts them and `send` walks `tasks` again, choosing afresh."""
    if earlier_report is None and journal_done is None and shard is None:
        return Selection(tasks, [])

    def skip_note(task: ImageTask) -> tuple[str, bool] | None:
        """Why the task is not sent (and whether the image holds its values), or None."""
        if earlier_report is not None:
            earlier = earlier_report.get(task.image_id)
            if earlier not in RETRYABLE_REPORT_STATUSES:
                return f"not retried: status in the earlier report: {earlier or 'absent'}", False
        if journal_done is not None and journal_done.get(task.image_id) == ops_digest(task.ops):
            return "already succeeded with the same ops (journal)", True
        return None

    def keep(task: ImageTask) -> bool:
        return in_shard(task.image_id, shard) and skip_note(task) is None

    skipped: list[Outcome] = []
    count = 0
    for task in tasks:
        if not in_shard(task.image_id, shard):
            continue
        found = skip_note(task)
        if found is None:
            count += 1
        else:
            note, holds = found
            skipped.append(_skipped(task, note, holds=holds))
    return Selection(Kept(tasks, keep, count), skipped)
