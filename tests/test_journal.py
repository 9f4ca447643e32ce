"""batch_ims.output.journal: what is journaled, reading it for --resume, and the run lock."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batch_ims.errors import LockedError
from batch_ims.models import ImageTask, Op, Outcome, Status, ops_digest, ops_json, sent
from batch_ims.output.journal import Journal, read_succeeded

OPS = (Op("replace", "/name", "web-01"),)
OTHER_OPS = (Op("replace", "/name", "web-02"),)
TARGET = "ims https://ims.cn-north-4.myhuaweicloud.com project 0a1b2c3d4e5f60718293a4b5c6d7e8f9"
ELSEWHERE = "ims https://ims.eu-de.otc.t-systems.com region eu-de"
_HOLD_LOCK = """
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
time.sleep(60)
"""


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _outcome(
    image_id: str,
    status: Status,
    ops: tuple[Op, ...] = OPS,
    http_status: int | None = 200,
    *,
    holds: bool = False,
    task_digest: str = "",
) -> Outcome:
    return Outcome(
        image_id=image_id,
        status=status,
        rows=(2,),
        ops=ops,
        http_status=http_status,
        finished_at="2024-03-15T08:15:00.00Z",
        holds=holds,
        task_digest=task_digest,
    )


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "run.journal"


@pytest.fixture
def journal(journal_path: Path) -> Iterator[Journal]:
    opened = Journal(journal_path, clock=FakeClock(), target=TARGET)
    yield opened
    opened.close()


def test_one_line_per_finished_outcome_aborted_and_invalid_not_journaled(
    journal: Journal, journal_path: Path
) -> None:
    for image_id, status in [
        ("a", Status.SUCCEEDED),
        ("b", Status.FAILED),
        ("c", Status.SKIPPED),
        ("d", Status.ABORTED),
        ("e", Status.INVALID),
    ]:
        journal.write(_outcome(image_id, status))

    owner, *entries = _lines(journal_path)
    assert owner["event"] == "run.started"
    assert owner["pid"] == os.getpid()
    assert [(e["image_id"], e["status"]) for e in entries] == [
        ("a", "succeeded"),
        ("b", "failed"),
        ("c", "skipped"),
    ]


def test_journal_line_holds_id_digest_status_http_status_and_time(
    journal: Journal, journal_path: Path
) -> None:
    journal.write(_outcome("a", Status.SUCCEEDED))

    assert _lines(journal_path)[1] == {
        "image_id": "a",
        "digest": ops_digest(OPS),
        "status": "succeeded",
        "holds": True,
        "http_status": 200,
        "at": "2024-03-15T08:15:00.00Z",
        "target": TARGET,
    }


def test_lines_reach_the_file_before_close(journal: Journal, journal_path: Path) -> None:
    journal.write(_outcome("a", Status.SUCCEEDED))

    assert read_succeeded(journal_path, TARGET) == {"a": ops_digest(OPS)}


def test_fsync_happens_once_sync_every_s_has_passed(
    journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[float] = []
    clock = FakeClock(100.0)
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(clock.now))
    journal = Journal(journal_path, clock=clock, target=TARGET, sync_every_s=1.0)
    try:
        for now in (100.2, 100.9, 101.0, 101.5, 102.1):
            clock.now = now
            journal.write(_outcome("a", Status.SUCCEEDED))
    finally:
        journal.close()

    assert synced == [101.0, 102.1, 102.1]  # the last one is close()


def test_read_succeeded_counts_a_skip_that_holds_the_values_as_done(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    journal = Journal(path, clock=FakeClock(), target=TARGET)
    journal.write(_outcome("a", Status.SKIPPED, holds=True))  # unchanged, or done per journal
    journal.close()

    assert read_succeeded(path, TARGET) == {"a": ops_digest(OPS)}


def test_a_skip_that_says_nothing_about_the_image_is_not_done(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    journal = Journal(path, clock=FakeClock(), target=TARGET)
    journal.write(_outcome("a", Status.SKIPPED, http_status=None))  # e.g. --retry-failed-from
    journal.close()

    assert read_succeeded(path, TARGET) == {}


def test_the_digest_of_the_manifest_ops_wins_over_the_reduced_ops_sent(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    journal = Journal(path, clock=FakeClock(), target=TARGET)
    journal.write(_outcome("a", Status.SUCCEEDED, OTHER_OPS, task_digest=ops_digest(OPS)))
    journal.close()

    assert read_succeeded(path, TARGET) == {"a": ops_digest(OPS)}


def test_read_succeeded_later_failure_cancels_success(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    journal = Journal(path, clock=FakeClock(), target=TARGET)
    journal.write(_outcome("a", Status.SUCCEEDED))
    journal.write(_outcome("b", Status.SUCCEEDED))
    journal.write(_outcome("a", Status.FAILED, http_status=500))
    journal.close()

    assert read_succeeded(path, TARGET) == {"b": ops_digest(OPS)}


def test_read_succeeded_keeps_the_digest_of_the_latest_success(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    journal = Journal(path, clock=FakeClock(), target=TARGET)
    journal.write(_outcome("a", Status.SUCCEEDED, OPS))
    journal.write(_outcome("a", Status.SUCCEEDED, OTHER_OPS))
    journal.close()

    assert read_succeeded(path, TARGET) == {"a": ops_digest(OTHER_OPS)}


def test_read_succeeded_ignores_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    journal = Journal(path, clock=FakeClock(), target=TARGET)
    journal.write(_outcome("a", Status.SUCCEEDED))
    journal.close()
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"image_id": "b", "digest": "0123", "status": "succ')

    assert read_succeeded(path, TARGET) == {"a": ops_digest(OPS)}


def test_read_succeeded_of_a_missing_journal_is_empty(tmp_path: Path) -> None:
    assert read_succeeded(tmp_path / "absent.journal", TARGET) == {}


def test_read_succeeded_across_two_runs_appending_to_one_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    first = Journal(path, clock=FakeClock(), target=TARGET)
    first.write(_outcome("a", Status.SUCCEEDED))
    first.close()
    second = Journal(path, clock=FakeClock(), target=TARGET)
    second.write(_outcome("b", Status.SUCCEEDED))
    second.close()

    assert read_succeeded(path, TARGET) == {"a": ops_digest(OPS), "b": ops_digest(OPS)}


def test_second_journal_on_same_path_is_locked_out_while_first_is_open(
    journal: Journal, journal_path: Path
) -> None:
    with pytest.raises(LockedError, match="locked by another batch-ims run"):
        Journal(journal_path, clock=FakeClock(), target=TARGET)


def test_second_journal_opens_after_the_first_closes(journal_path: Path) -> None:
    first = Journal(journal_path, clock=FakeClock(), target=TARGET)
    first.close()

    second = Journal(journal_path, clock=FakeClock(), target=TARGET)
    second.write(_outcome("a", Status.SUCCEEDED))
    second.close()

    assert read_succeeded(journal_path, TARGET) == {"a": ops_digest(OPS)}


def test_refused_second_journal_does_not_disturb_the_first(
    journal: Journal, journal_path: Path
) -> None:
    with pytest.raises(LockedError):
        Journal(journal_path, clock=FakeClock(), target=TARGET)

    journal.write(_outcome("a", Status.SUCCEEDED))

    assert read_succeeded(journal_path, TARGET) == {"a": ops_digest(OPS)}


def test_lock_of_a_killed_process_is_taken_over(journal_path: Path) -> None:
    journal_path.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(journal_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockedError):
            Journal(journal_path, clock=FakeClock(), target=TARGET)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()

    journal = Journal(journal_path, clock=FakeClock(), target=TARGET)
    journal.close()

    assert holder.returncode == -signal.SIGKILL


def test_a_line_is_exactly_what_json_dumps_gives_for_its_fields(
    journal: Journal, journal_path: Path
) -> None:
    journal.write(_outcome('镜像 "quoted"\\', Status.FAILED, http_status=None))
    journal.write(_outcome("b", Status.SKIPPED, holds=True, task_digest="0123abcd"))

    lines = journal_path.read_text(encoding="utf-8").splitlines()[1:]

    expected = [
        {
            "image_id": '镜像 "quoted"\\',
            "digest": ops_digest(OPS),
            "status": "failed",
            "holds": False,
            "http_status": None,
            "at": "2024-03-15T08:15:00.00Z",
            "target": TARGET,
        },
        {
            "image_id": "b",
            "digest": "0123abcd",
            "status": "skipped",
            "holds": True,
            "http_status": 200,
            "at": "2024-03-15T08:15:00.00Z",
            "target": TARGET,
        },
    ]
    assert lines == [json.dumps(line, ensure_ascii=False) for line in expected]


TWO_OPS_TASK = ImageTask("7f0c6d1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", OPS + OTHER_OPS, (2, 3))


def _succeeded(task: ImageTask, **given: Any) -> Outcome:
    return sent(
        task, Status.SUCCEEDED, http_status=200, attempts=1, request_id="", duration_ms=1, **given
    )


def test_the_digest_of_an_outcome_carrying_its_body_text_is_the_digest_of_its_ops() -> None:
    text = ops_json(TWO_OPS_TASK.ops)
    carried = _succeeded(TWO_OPS_TASK, ops_text=text)
    bare = _succeeded(TWO_OPS_TASK)

    assert carried.digest() == bare.digest() == ops_digest(TWO_OPS_TASK.ops)
    assert carried.ops_shown() == bare.ops_shown() == text


def test_an_outcome_of_fewer_ops_than_the_manifests_keeps_the_manifests_digest() -> None:
    reduced = _succeeded(TWO_OPS_TASK, ops=OTHER_OPS, ops_text=ops_json(OTHER_OPS))

    assert reduced.digest() == ops_digest(TWO_OPS_TASK.ops) != ops_digest(OTHER_OPS)
    assert reduced.ops_shown() == ops_json(OTHER_OPS)


def test_every_line_names_its_target_and_the_owner_line_the_runs(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path, clock=FakeClock(), target=TARGET)
    journal.write(_outcome("a", Status.SUCCEEDED))
    journal.write(dataclasses.replace(_outcome("b", Status.SUCCEEDED), target=ELSEWHERE))
    journal.close()
    lines = _lines(path)
    assert [line["target"] for line in lines] == [TARGET, TARGET, ELSEWHERE]


def test_a_journal_of_another_target_skips_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path, clock=FakeClock(), target=ELSEWHERE)
    journal.write(_outcome("a", Status.SUCCEEDED))
    journal.close()
    assert read_succeeded(path, ELSEWHERE) == {"a": ops_digest(OPS)}
    assert read_succeeded(path, TARGET) == {}


def test_lines_without_a_target_from_older_journals_count_for_any(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    line = {"image_id": "a", "digest": ops_digest(OPS), "status": "succeeded", "holds": True}
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert read_succeeded(path, TARGET) == {"a": ops_digest(OPS)}


def test_withdraw_removes_a_new_journal_and_restores_an_earlier_one(tmp_path: Path) -> None:
    new, earlier = tmp_path / "new.jsonl", tmp_path / "earlier.jsonl"
    earlier.write_text('{"image_id": "a"}\n', encoding="utf-8")

    for path in (new, earlier):
        Journal(path, clock=lambda: 0.0, target="").withdraw()

    assert not new.exists()
    assert earlier.read_text(encoding="utf-8") == '{"image_id": "a"}\n'
