"""End to end: the Prometheus textfile after a clean run and after a run stopped by SIGTERM."""

from __future__ import annotations

import signal
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import cli, emulator, write_csv
from tests.e2e.procs import CliProcess, line_count, wait_for


def _samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = path.read_text(encoding="utf-8")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _manifest(path: Path, count: int) -> Path:
    ids = [generated_image_id(i) for i in range(count)]
    return write_csv(path, [["image_id", "name"], *([i, f"v2-{i[:8]}"] for i in ids)])


def test_a_clean_run_then_a_sigterm_run_leave_valid_metrics_keeping_the_last_success(
    tmp_path: Path,
) -> None:
    metrics = tmp_path / "batch_ims.prom"
    job = ("job", "nightly")
    with emulator(images=200, latency_ms=100) as running:
        clean = ["run", str(_manifest(tmp_path / "ok.csv", 5)), "--endpoint", running.url]
        clean += ["--report", str(tmp_path / "ok.csv.report.csv"), "--rate", "1000"]
        clean += ["--metrics-file", str(metrics), "--metrics-job", "nightly"]
        first = cli(clean)
        after_first = _samples(metrics)
        journal = tmp_path / "j.jsonl"
        args = ["run", str(_manifest(tmp_path / "big.csv", 200)), "--endpoint", running.url]
        args += ["--report", str(tmp_path / "big-report.csv"), "--journal", str(journal)]
        args += ["--rate", "1000", "--concurrency", "4"]
        args += ["--metrics-file", str(metrics), "--metrics-job", "nightly"]
        with CliProcess(args, folder=tmp_path / "p") as proc:
            wait_for(lambda: line_count(journal) >= 6, timeout=60, what="a few images done")
            proc.send_signal(signal.SIGTERM)
            stopped = proc.wait(timeout=60)
        after_stop = _samples(metrics)

    assert first.returncode == 0, first.stderr[-2000:]
    assert after_first[("batch_ims_last_run_exit_code", (job,))] == 0
    success = after_first[("batch_ims_last_success_timestamp_seconds", (job,))]
    assert after_first[("batch_ims_last_run_images", (job, ("status", "succeeded")))] == 5
    assert after_first[("batch_ims_last_run_requests", (job, ("kind", "patch")))] == 5
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    assert after_stop[("batch_ims_last_run_exit_code", (job,))] == 143
    # the stopped run did not succeed: the last success is still the first run's
    assert after_stop[("batch_ims_last_success_timestamp_seconds", (job,))] == success
    images = sum(
        value for (name, labels), value in after_stop.items() if name == "batch_ims_last_run_images"
    )
    assert images == 200
