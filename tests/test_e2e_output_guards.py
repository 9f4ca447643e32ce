"""End to end, issue 25 items 7 and 8: the metrics file is one of the run's outputs (locked,
never another output's path, never written through a link or into another user's file,
0644); a run refused with exit 75 leaves no journal behind."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from batch_ims.emulator.images import generated_image_id
from batch_ims.output.files import OutputFile
from tests.e2e.harness import aksk_env, cli, emulator, json_lines, write_csv

FAST = ["--rate", "100000", "--concurrency", "4", "--log-format", "json"]
OTHER_UID = 65534  # nobody


def _manifest(folder: Path) -> Path:
    rows = [["image_id", "name"], *([generated_image_id(i), f"镜像名称-{i}"] for i in range(3))]
    return write_csv(folder / "m.csv", rows)


def _errors(stderr: str) -> list[str]:
    return [e["error"] for e in json_lines(stderr) if e["event"] == "run.error"]


def _run(folder: Path, url: str, *extra: str) -> list[str]:
    return ["run", str(_manifest(folder)), "--endpoint", url, *FAST, *extra]


def test_the_journal_and_the_metrics_file_on_one_path_is_exit_2(tmp_path: Path) -> None:
    same = tmp_path / "x.prom"
    with emulator(images=3) as running:
        args = _run(tmp_path, running.url, "--report", str(tmp_path / "r.csv"))
        result = cli([*args, "--journal", str(same), "--metrics-file", str(same)])

    assert result.returncode == 2, result.stderr[-2000:]
    assert _errors(result.stderr) == [
        f"--journal and --metrics-file are the same file ({same}); give each its own path"
    ]
    assert not same.exists()
    assert running.emulator.stats(arrivals=False)["arrival_count"] == 0


def test_a_metrics_file_that_is_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.prom"
    target.write_text("keep me\n")
    link = tmp_path / "batch_ims.prom"
    link.symlink_to(target)
    with emulator(images=3) as running:
        args = _run(tmp_path, running.url, "--report", str(tmp_path / "r.csv"))
        result = cli([*args, "--metrics-file", str(link)])

    assert result.returncode == 2, result.stderr[-2000:]
    assert "symbolic link" in _errors(result.stderr)[0]
    assert link.is_symlink()
    assert target.read_text() == "keep me\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_a_metrics_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    planted = tmp_path / "batch_ims.prom"
    planted.write_text("# theirs\n")
    os.chown(planted, OTHER_UID, OTHER_UID)
    with emulator(images=3) as running:
        args = _run(tmp_path, running.url, "--report", str(tmp_path / "r.csv"))
        result = cli([*args, "--metrics-file", str(planted)])

    assert result.returncode == 2, result.stderr[-2000:]
    assert "belongs to another user (uid 65534)" in _errors(result.stderr)[0]
    assert planted.read_text() == "# theirs\n"


def test_a_metrics_file_another_run_holds_is_exit_75_with_no_journal_left(
    tmp_path: Path,
) -> None:
    held = tmp_path / "batch_ims.prom"
    journal = tmp_path / "j.jsonl"
    with emulator(images=3) as running, OutputFile("test", held, overwrite=True):
        args = _run(tmp_path, running.url, "--report", str(tmp_path / "r.csv"))
        result = cli([*args, "--metrics-file", str(held), "--journal", str(journal)])

    assert result.returncode == 75, result.stderr[-2000:]
    assert "another batch-ims run" in _errors(result.stderr)[0]
    assert not journal.exists()
    assert running.emulator.stats(arrivals=False)["arrival_count"] == 0


def test_the_metrics_file_is_written_0644_for_node_exporter_whatever_the_umask(
    tmp_path: Path,
) -> None:
    metrics = tmp_path / "batch_ims.prom"
    with emulator(images=3) as running:
        args = _run(tmp_path, running.url, "--report", str(tmp_path / "r.csv"))
        result = subprocess.run(
            [sys.executable, "-m", "batch_ims", *args, "--metrics-file", str(metrics)],
            env=aksk_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            preexec_fn=lambda: os.umask(0o077),
        )

    assert result.returncode == 0, result.stderr[-2000:]
    assert stat.S_IMODE(metrics.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "r.csv").stat().st_mode) == 0o600
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("held", ["report", "undo"])
def test_a_run_refused_with_75_after_opening_its_journal_leaves_no_journal(
    tmp_path: Path, held: str
) -> None:
    from batch_ims.output.files import lock, open_live

    report, undo, journal = tmp_path / "r.csv", tmp_path / "undo.csv", tmp_path / "j.jsonl"
    outputs = ["--report", str(report), "--undo-manifest", str(undo), "--journal", str(journal)]
    with emulator(images=3) as running:
        if held == "report":
            with OutputFile("test", report, overwrite=True):
                result = cli([*_run(tmp_path, running.url), *outputs])
        else:
            with open_live("test", undo, mode="a") as holder:
                lock(holder, "test", undo)
                result = cli([*_run(tmp_path, running.url), *outputs, "--overwrite"])

    assert result.returncode == 75, result.stderr[-2000:]
    assert not journal.exists()
    assert running.emulator.stats(arrivals=False)["arrival_count"] == 0
