"""End to end, issue 25 item 8: SIGTERM while the run writes its files (a 30,000-row .xlsx
report takes seconds) interrupts nothing: the report, the summary and the metrics are all
written, exit 143, and stderr stays JSON lines (no `ZipFile.__del__` complaint)."""

from __future__ import annotations

import json
import signal
import zipfile
from pathlib import Path

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import json_lines, write_csv
from tests.e2e.procs import CliProcess, wait_for

ROWS = 30_000


def test_sigterm_while_the_report_is_written_still_writes_the_summary_and_metrics(
    tmp_path: Path,
) -> None:
    rows = [["image_id", "name"], *([generated_image_id(i), f"镜像名称-{i}"] for i in range(ROWS))]
    manifest = write_csv(tmp_path / "m.csv", rows)
    out = tmp_path / "out"
    out.mkdir()
    report, summary, metrics = out / "r.xlsx", out / "s.json", out / "m.prom"
    args = ["run", str(manifest), "--dry-run", "--report", str(report)]
    args += ["--summary-json", str(summary), "--metrics-file", str(metrics)]
    with CliProcess([*args, "--log-format", "json"], folder=tmp_path / "p") as proc:
        claimed = f".{report.name}.{proc.pid}.tmp"  # the report's temporary file: claimed
        wait_for(lambda: (out / claimed).exists(), timeout=120, what="the outputs claimed")
        proc.send_signal(signal.SIGTERM)
        exited = proc.wait(timeout=300)

    assert exited.returncode == 143, exited.stderr[-2000:]
    events = json_lines(exited.stderr)  # every line is JSON
    assert "ZipFile" not in exited.stderr
    assert json.loads(summary.read_text(encoding="utf-8"))["exit_code"] == 143
    assert 'batch_ims_last_run_exit_code{job="batch_ims"} 143.0' in metrics.read_text()
    with zipfile.ZipFile(report) as book:
        assert book.testzip() is None
    assert sorted(p.name for p in out.iterdir()) == ["m.prom", "r.xlsx", "s.json"]
    assert [e["action"] for e in events if e["event"] == "run.signal"] == [
        "finishing the run's files"
    ]
