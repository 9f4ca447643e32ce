"""End to end: a reader of the output that leaves early (`plan ... | head`).

The pipe's reading end is closed before the command writes anything, so every write to
that stream meets a broken pipe, whatever the timing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import aksk_env, emulator, read_report, write_csv

IMAGES = 40


def _manifest(path: Path) -> Path:
    rows = [["image_id", "name", "__description"]]
    rows += [[generated_image_id(i), f"镜像测试-{i}", "生产环境 Web 镜像"] for i in range(IMAGES)]
    rows += [[f"不是镜像-{i}", "x", ""] for i in range(300)]  # a long list of invalid rows
    return write_csv(path, rows)


def _closed(args: list[str], *, stream: str) -> tuple[int, str]:
    """Run the CLI with its `stream` ("stdout" or "stderr") read by nobody; returns the
    exit code and what the other stream carried."""
    process = subprocess.Popen(
        [sys.executable, "-m", "batch_ims", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=aksk_env(),
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    closed, other = (
        (process.stdout, process.stderr) if stream == "stdout" else (process.stderr, process.stdout)
    )
    closed.close()
    text = other.read()
    other.close()
    return process.wait(timeout=120), text


def test_plan_whose_reader_left_exits_141_quietly_and_still_writes_its_report(
    tmp_path: Path,
) -> None:
    manifest = _manifest(tmp_path / "清单.csv")
    report = tmp_path / "invalid.csv"
    code, stderr = _closed(
        ["plan", str(manifest), "--report", str(report), "--log-format", "json"], stream="stdout"
    )
    assert code == 141
    assert [line for line in stderr.splitlines() if '"manifest.read"' not in line] == []
    assert len(read_report(report)) == 300
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([manifest.name, report.name])


def test_validate_job_whose_reader_left_exits_141_quietly(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path / "清单.csv")
    job = tmp_path / "夜间任务.toml"
    job.write_text(f'manifest = "{manifest.name}"\nreport = "out.csv"\n', encoding="utf-8")
    code, stderr = _closed(["validate-job", str(job)], stream="stdout")
    assert code == 141
    assert "error" not in stderr


def test_run_whose_summary_reader_left_keeps_its_exit_code_and_writes_every_output(
    tmp_path: Path,
) -> None:
    manifest = _manifest(tmp_path / "清单.csv")
    report = tmp_path / "report.csv"
    summary = tmp_path / "summary.json"
    with emulator(images=IMAGES) as running:
        args = ["run", str(manifest), "--endpoint", running.url, "--rate", "1000"]
        args += ["--report", str(report), "--summary-json", str(summary)]
        code, stderr = _closed([*args, "--log-format", "json"], stream="stdout")
        applied = dict(running.emulator.apply_counts)

    assert code == 1  # 300 invalid rows: the run's own code, not the pipe's
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr
    assert "Exception ignored" not in stderr
    assert '"run.finished"' in stderr
    assert len(read_report(report)) == IMAGES + 300
    assert summary.exists()
    assert len(applied) == IMAGES
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [manifest.name, report.name, report.name + ".journal.jsonl", summary.name]
    )


def test_run_whose_console_log_reader_left_finishes_and_prints_its_summary(
    tmp_path: Path,
) -> None:
    manifest = _manifest(tmp_path / "清单.csv")
    report = tmp_path / "report.csv"
    with emulator(images=IMAGES) as running:
        args = ["run", str(manifest), "--endpoint", running.url, "--rate", "1000"]
        code, stdout = _closed(
            [*args, "--report", str(report), "--log-format", "console", "-v"], stream="stderr"
        )

    assert code == 1
    assert stdout.startswith(f"batch-ims: {IMAGES + 300} images: {IMAGES} succeeded")
    assert len(read_report(report)) == IMAGES + 300
