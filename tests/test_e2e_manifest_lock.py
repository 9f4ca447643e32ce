"""End to end, issue 25 item 8: two runs of one manifest with different journals would both
PATCH every image; the second is refused with exit 75 while the first runs. Shards of one
manifest still run side by side."""

from __future__ import annotations

import signal
from pathlib import Path

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import cli, emulator, json_lines, write_csv
from tests.e2e.procs import CliProcess, line_count, wait_for


def _manifest(folder: Path, count: int) -> Path:
    rows = [["image_id", "name"], *([generated_image_id(i), f"镜像名称-{i}"] for i in range(count))]
    return write_csv(folder / "m.csv", rows)


def _args(manifest: Path, url: str, folder: Path, name: str, *extra: str) -> list[str]:
    outputs = ["--report", str(folder / f"{name}.csv"), "--journal", str(folder / f"{name}.jsonl")]
    return ["run", str(manifest), "--endpoint", url, *outputs, "--log-format", "json", *extra]


def test_a_second_run_of_a_manifest_being_sent_is_exit_75_and_sends_nothing(
    tmp_path: Path,
) -> None:
    manifest = _manifest(tmp_path, 40)
    slow = ["--concurrency", "1", "--rate", "1000"]
    with emulator(images=40, latency_ms=100) as running:
        first_args = _args(manifest, running.url, tmp_path, "first", *slow)
        with CliProcess(first_args, folder=tmp_path / "p") as first:
            wait_for(lambda: line_count(tmp_path / "first.jsonl") >= 3, timeout=60, what="sending")
            second = cli(_args(manifest, running.url, tmp_path, "second"))
            first.send_signal(signal.SIGTERM)
            stopped = first.wait(timeout=60)
        applied = dict(running.emulator.apply_counts)

    assert second.returncode == 75, second.stderr[-2000:]
    [error] = [e["error"] for e in json_lines(second.stderr) if e["event"] == "run.error"]
    assert "is being sent by another batch-ims run" in error
    assert not (tmp_path / "second.jsonl").exists()
    assert set(applied.values()) == {1}  # no image patched by both runs
    assert stopped.returncode == 143


def test_shards_of_one_manifest_run_side_by_side_but_not_beside_a_whole_run(
    tmp_path: Path,
) -> None:
    import fcntl

    manifest = _manifest(tmp_path, 6)
    with emulator(images=6) as running, manifest.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_SH)  # what a running shard holds
        shard = cli(_args(manifest, running.url, tmp_path, "s1", "--shard", "1/2"))
        whole = cli(_args(manifest, running.url, tmp_path, "whole"))

    assert shard.returncode == 0, shard.stderr[-2000:]
    assert whole.returncode == 75, whole.stderr[-2000:]
