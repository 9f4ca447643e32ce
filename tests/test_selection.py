"""batch_ims.run.selection: stable shards, --retry-failed-from and --resume."""

from __future__ import annotations

import uuid

import pytest

from batch_ims.models import ImageTask, Op, Status, ops_digest
from batch_ims.run.selection import in_shard, select, shard_of
from batch_ims.settings import Shard

UUID_A = "4f5a3d2e-1b0c-4a9e-8d7f-6c5b4a392817"
UUID_B = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
UUID_C = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"
OPS = (Op("replace", "/name", "web-01"),)


def _task(image_id: str, ops: tuple[Op, ...] = OPS) -> ImageTask:
    return ImageTask(image_id=image_id, ops=ops, rows=(2,))


@pytest.mark.parametrize(
    ("image_id", "count", "shard"),
    [
        (UUID_A, 3, 0),
        (UUID_B, 3, 2),
        (UUID_C, 3, 1),
        (UUID_A, 7, 1),
        (UUID_C, 7, 3),
        (UUID_B, 1000, 284),
    ],
)
def test_shard_of_is_pinned_across_versions_and_machines(
    image_id: str, count: int, shard: int
) -> None:
    assert shard_of(image_id, count) == shard


def test_shard_of_ignores_case_and_surrounding_spaces() -> None:
    assert shard_of(f"  {UUID_A.upper()} ", 7) == shard_of(UUID_A, 7)


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_partition_ids_disjointly_and_completely(count: int) -> None:
    ids = {str(uuid.uuid5(uuid.NAMESPACE_DNS, f"image-{i}")) for i in range(3000)}

    shards = [{i for i in ids if in_shard(i, Shard(k, count))} for k in range(count)]

    assert sum(len(s) for s in shards) == len(ids)
    assert set().union(*shards) == ids
    assert all(len(s) > len(ids) / count * 0.8 for s in shards)  # roughly even


def test_no_shard_means_every_image() -> None:
    assert in_shard(UUID_A, None) is True


def test_select_without_report_or_journal_sends_everything() -> None:
    tasks = [_task(UUID_A), _task(UUID_B)]

    selection = select(tasks, earlier_report=None, journal_done=None)

    assert selection.send == tasks
    assert selection.skipped == []


def test_select_retries_only_failed_and_aborted_of_the_earlier_report() -> None:
    tasks = [_task(i) for i in (UUID_A, UUID_B, UUID_C, "d", "e")]
    report = {UUID_A: "succeeded", UUID_B: "failed", UUID_C: "aborted", "d": "invalid"}

    selection = select(tasks, earlier_report=report, journal_done=None)

    assert [t.image_id for t in selection.send] == [UUID_B, UUID_C]
    assert [(o.image_id, o.status, o.note) for o in selection.skipped] == [
        (UUID_A, Status.SKIPPED, "not retried: status in the earlier report: succeeded"),
        ("d", Status.SKIPPED, "not retried: status in the earlier report: invalid"),
        ("e", Status.SKIPPED, "not retried: status in the earlier report: absent"),
    ]


def test_select_skips_journaled_successes_with_the_same_ops_only() -> None:
    changed = (Op("replace", "/name", "web-02"),)
    tasks = [_task(UUID_A), _task(UUID_B, changed), _task(UUID_C)]
    done = {UUID_A: ops_digest(OPS), UUID_B: ops_digest(OPS)}

    selection = select(tasks, earlier_report=None, journal_done=done)

    assert [t.image_id for t in selection.send] == [UUID_B, UUID_C]
    assert [(o.image_id, o.note) for o in selection.skipped] == [
        (UUID_A, "already succeeded with the same ops (journal)")
    ]


def test_select_with_earlier_report_and_journal_applies_both() -> None:
    tasks = [_task(UUID_A), _task(UUID_B), _task(UUID_C)]
    report = {UUID_A: "failed", UUID_B: "failed", UUID_C: "succeeded"}
    done = {UUID_A: ops_digest(OPS)}

    selection = select(tasks, earlier_report=report, journal_done=done)

    assert [t.image_id for t in selection.send] == [UUID_B]
    assert sorted(o.image_id for o in selection.skipped) == sorted([UUID_A, UUID_C])


def test_skipped_outcomes_keep_rows_and_ops_of_the_task() -> None:
    task = ImageTask(image_id=UUID_A, ops=OPS, rows=(3, 4))

    selection = select([task], earlier_report={}, journal_done=None)

    (skipped,) = selection.skipped
    assert (skipped.rows, skipped.ops) == ((3, 4), OPS)


def test_the_tasks_to_send_are_counted_and_chosen_the_same_at_every_pass() -> None:
    tasks = [_task(UUID_A), _task(UUID_B), _task(UUID_C)]
    report = {UUID_A: "succeeded", UUID_B: "failed", UUID_C: "aborted"}

    selection = select(tasks, earlier_report=report, journal_done=None)

    assert len(selection.send) == 2
    assert [t.image_id for t in selection.send] == [t.image_id for t in selection.send]
    assert [t.image_id for t in selection.send] == [UUID_B, UUID_C]


def test_images_of_another_shard_are_neither_sent_nor_skipped() -> None:
    tasks = [_task(u) for u in (UUID_A, UUID_B, UUID_C)]
    shard = Shard(index=shard_of(UUID_A, 2), count=2)
    mine = [u for u in (UUID_A, UUID_B, UUID_C) if shard_of(u, 2) == shard.index]

    selection = select(tasks, earlier_report=None, journal_done=None, shard=shard)

    assert [t.image_id for t in selection.send] == mine
    assert len(selection.send) == len(mine)
    assert (list(selection.skipped), len(selection.skipped)) == ([], 0)


class _CountingJournal(dict[str, str]):
    """A journal's finished images that counts how often it is asked."""

    asked = 0

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self.asked += 1
        return super().get(key, default)


def test_each_task_is_judged_once_however_often_send_and_skipped_are_walked() -> None:
    tasks = [_task(UUID_A), _task(UUID_B), _task(UUID_C)]
    done = _CountingJournal({UUID_A: ops_digest(OPS), UUID_C: ops_digest(OPS)})

    selection = select(tasks, earlier_report=None, journal_done=done)
    walks = [
        ([t.image_id for t in selection.send], [o.image_id for o in selection.skipped])
        for _ in range(2)
    ]

    assert walks == [([UUID_B], [UUID_A, UUID_C])] * 2
    assert (len(selection.send), len(selection.skipped)) == (1, 2)
    assert done.asked == len(tasks)
