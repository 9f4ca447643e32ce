"""End to end: job files, JSON logs with progress, summary JSON, shards, --retry-failed-from,
and the crontab recipe's `flock -n` line, with the real CLI against the emulator."""

from __future__ import annotations

import itertools
import json
import shlex
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import aksk_env, cli, emulator, json_lines, read_report, write_csv

REPO = Path(__file__).resolve().parent.parent
PATCH = "PATCH /v2/cloudimages/{image_id}"
FAST = ["--rate", "100000", "--concurrency", "8"]
MISSING = "9e8d7c6b-5a49-4382-8170-6f5e4d3c2b1a"
SUMMARY_KEYS = {
    "counts",
    "images",
    "requests",
    "requests_by_method",
    "retries",
    "throttled",
    "duration_s",
    "rate_achieved",
    "rate_asked",
    "in_flight_peak",
    "latency_ms",
    "exit_code",
    "report",
    "hidden_rows_skipped",
}


def _rename_manifest(path: Path, count: int, *extra_ids: str) -> Path:
    rows = [["image_id", "name"]]
    rows += [[generated_image_id(i), f"renamed-{i}"] for i in range(count)]
    rows += [[image_id, "renamed-extra"] for image_id in extra_ids]
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_csv(path, rows)


def _run(manifest: Path, url: str, report: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli(["run", str(manifest), "--endpoint", url, "--report", str(report), *FAST, *extra])


def _job(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _utc_days() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


# --- job files ------------------------------------------------------------------------


def test_job_file_run_elsewhere_finds_its_manifest_and_writes_the_templated_report_beside_it(
    tmp_path: Path,
) -> None:
    jobs = tmp_path / "jobs"
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    _rename_manifest(jobs / "manifests" / "m.csv", 3)

    with emulator(images=3) as running:
        job = _job(
            jobs / "nightly.toml",
            [
                'manifest = "manifests/m.csv"',
                f'endpoint = "{running.url}"',
                'report = "out/report-%Y%m%d.csv"',
                'summary-json = "out/summary-%Y%m%d.json"',
                "rate = 100000.0",
            ],
        )
        day_before = _utc_days()
        result = cli(["run", "--job", str(job)], cwd=elsewhere)
        day_after = _utc_days()
        state = running.emulator.images

    assert result.returncode == 0, result.stderr[-2000:]
    reports = {jobs / "out" / f"report-{day}.csv" for day in (day_before, day_after)}
    written = [path for path in reports if path.exists()]
    assert len(written) == 1
    assert [row["status"] for row in read_report(written[0])] == ["succeeded"] * 3
    day = written[0].stem.removeprefix("report-")
    summary = json.loads((jobs / "out" / f"summary-{day}.json").read_text(encoding="utf-8"))
    assert summary["report"] == str(written[0])
    assert list(elsewhere.iterdir()) == []
    assert [state[generated_image_id(i)]["name"] for i in range(3)] == [
        f"renamed-{i}" for i in range(3)
    ]


def test_command_line_options_override_the_job_file(tmp_path: Path) -> None:
    _rename_manifest(tmp_path / "m.csv", 2)
    chosen = tmp_path / "chosen" / "report.csv"

    with emulator(images=2) as running:
        job = _job(
            tmp_path / "job.toml",
            [
                'manifest = "m.csv"',
                f'endpoint = "{running.url}"',
                'report = "out/from-job.csv"',
                "rate = 100000.0",
                "dry-run = false",
            ],
        )
        result = cli(["run", "--job", str(job), "--report", str(chosen), "--dry-run"])
        requests = sum(running.emulator.request_counts.values())

    assert result.returncode == 0, result.stderr[-2000:]
    assert not (tmp_path / "out").exists()
    assert [row["status"] for row in read_report(chosen)] == ["skipped", "skipped"]
    assert requests == 0


def test_unknown_key_in_a_job_file_exits_2_naming_the_key_and_the_file(tmp_path: Path) -> None:
    _rename_manifest(tmp_path / "m.csv", 1)
    job = _job(tmp_path / "typo.toml", ['manifest = "m.csv"', 'colour = "blue"'])

    with emulator(images=1) as running:
        result = cli(["run", "--job", str(job), "--endpoint", running.url])
        requests = sum(running.emulator.request_counts.values())

    assert result.returncode == 2
    assert "'colour'" in result.stderr
    assert str(job) in result.stderr
    assert "Traceback" not in result.stderr
    assert requests == 0


def test_validate_job_exits_0_1_2_and_sends_nothing(tmp_path: Path) -> None:
    _rename_manifest(tmp_path / "good.csv", 2)
    write_csv(
        tmp_path / "bad.csv",
        [["image_id", "min_ram"], [generated_image_id(0), "1024"], [generated_image_id(1), "x"]],
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    with emulator(images=2) as running:
        common = [f'endpoint = "{running.url}"', 'report = "out/r.csv"']
        good = _job(tmp_path / "good.toml", ['manifest = "good.csv"', *common])
        bad = _job(tmp_path / "bad.toml", ['manifest = "bad.csv"', *common])
        gone = _job(tmp_path / "gone.toml", ['manifest = "nowhere.csv"', *common])
        broken = _job(tmp_path / "broken.toml", ['manifest = "good.csv', *common])
        results = [
            cli(["validate-job", str(job)], cwd=elsewhere) for job in (good, bad, gone, broken)
        ]
        requests = sum(running.emulator.request_counts.values())

    assert [r.returncode for r in results] == [0, 1, 2, 2], [r.stderr for r in results]
    assert "2 valid images, 0 invalid" in results[0].stdout
    assert "row 3" in results[1].stdout
    assert "nowhere.csv" in results[2].stderr
    assert str(broken) in results[3].stderr
    assert requests == 0
    assert not (tmp_path / "out").exists()
    assert list(elsewhere.iterdir()) == []


def test_shipped_example_jobs_validate_from_another_directory(tmp_path: Path) -> None:
    for name in ("nightly-idempotent.toml", "one-off-migration.toml"):
        job = REPO / "jobs" / name
        result = cli(["validate-job", str(job)], cwd=tmp_path)
        assert result.returncode in (0, 1), result.stderr[-2000:]
        assert f"{job}: ok: manifest {REPO / 'jobs' / 'manifests'}" in result.stdout
    assert list(tmp_path.iterdir()) == []


# --- logs, progress and summary -------------------------------------------------------


def test_off_a_terminal_stderr_is_all_json_events_with_progress_at_the_interval(
    tmp_path: Path,
) -> None:
    manifest = _rename_manifest(tmp_path / "m.csv", 30, MISSING)
    report = tmp_path / "report.csv"
    summary_path = tmp_path / "summary.json"

    with emulator(images=30, latency_ms=120) as running:
        result = cli(
            [
                "run",
                str(manifest),
                "--endpoint",
                running.url,
                "--report",
                str(report),
                "--rate",
                "100000",
                "--concurrency",
                "3",
                "--progress-interval",
                "0.2",
                "--summary-json",
                str(summary_path),
            ]
        )

    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    events = [json.loads(line) for line in lines]
    assert all("event" in event for event in events), [e for e in events if "event" not in e]
    progress = [event for event in events if event["event"] == "progress"]
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert summary["duration_s"] > 1.0
    assert len(progress) >= 3
    for event in progress:
        assert {
            "done",
            "total",
            "failed",
            "images_per_s",
            "requests_per_s",
            "eta_s",
        } <= event.keys()
        assert event["total"] == 31
        assert 0 <= event["done"] <= 31
        assert event["images_per_s"] >= 0
    assert [e["done"] for e in progress] == sorted(e["done"] for e in progress)
    stamps = [datetime.fromisoformat(e["timestamp"]) for e in progress]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.19
    assert len(progress) >= summary["duration_s"] / 0.6 - 1

    assert set(summary) == SUMMARY_KEYS
    statuses = Counter(row["status"] for row in read_report(report))
    assert summary["counts"] == {
        status: statuses.get(status, 0)
        for status in ("succeeded", "failed", "invalid", "skipped", "aborted", "drifted")
    }
    assert summary["counts"]["succeeded"] == 30
    assert summary["counts"]["failed"] == 1
    assert summary["images"] == 31
    assert summary["exit_code"] == 1
    assert summary["report"] == str(report)
    assert set(summary["latency_ms"]) == {"p50", "p95", "p99"}
    assert summary["requests"] >= 31


# --- shards and retries ---------------------------------------------------------------


def test_three_shards_of_one_manifest_cover_every_image_exactly_once(tmp_path: Path) -> None:
    count = 60
    manifest = _rename_manifest(tmp_path / "m.csv", count)
    everything = {generated_image_id(i) for i in range(count)}

    with emulator(images=count) as running:
        shards: list[set[str]] = []
        for index in range(3):
            report = tmp_path / f"shard-{index}.csv"
            result = _run(manifest, running.url, report, "--shard", f"{index}/3")
            assert result.returncode == 0, result.stderr[-2000:]
            rows = read_report(report)
            assert {row["status"] for row in rows} == {"succeeded"}
            shards.append({row["image_id"] for row in rows})
        applied = dict(running.emulator.apply_counts)

    assert all(shards), [len(s) for s in shards]
    assert sum(len(s) for s in shards) == count
    assert set().union(*shards) == everything
    assert applied == dict.fromkeys(everything, 1)


def test_retry_failed_from_resends_only_the_images_that_failed(tmp_path: Path) -> None:
    queued = [
        "3c2f6a1e-0d4b-4a8e-9a57-1b2c3d4e5f60",
        "4d3a7b2f-1e5c-4b9f-8a68-2c3d4e5f6071",
        "5e4b8c3a-2f6d-4cae-9b79-3d4e5f607182",
    ]
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps([{"id": i, "name": "uploading", "status": "queued"} for i in queued]),
        encoding="utf-8",
    )
    manifest = _rename_manifest(tmp_path / "m.csv", 5, *queued)
    first = tmp_path / "first.csv"
    second = tmp_path / "second.csv"
    ok = {generated_image_id(i) for i in range(5)}

    with emulator(images=5, seed=seed) as running:
        one = _run(manifest, running.url, first)
        for image_id in queued:
            running.emulator.images[image_id]["status"] = "active"
        patches_before = running.emulator.request_counts[PATCH]
        two = _run(manifest, running.url, second, "--retry-failed-from", str(first))
        patches = running.emulator.request_counts[PATCH] - patches_before
        applied = dict(running.emulator.apply_counts)

    assert one.returncode == 1, one.stderr[-2000:]
    assert {r["image_id"]: r["status"] for r in read_report(first)} == {
        **dict.fromkeys(ok, "succeeded"),
        **dict.fromkeys(queued, "failed"),
    }
    assert two.returncode == 0, two.stderr[-2000:]
    assert patches == 3
    assert applied == dict.fromkeys(ok | set(queued), 1)
    rows = {r["image_id"]: r for r in read_report(second)}
    assert {i: rows[i]["status"] for i in queued} == dict.fromkeys(queued, "succeeded")
    assert {i: (rows[i]["status"], rows[i]["note"]) for i in ok} == dict.fromkeys(
        ok, ("skipped", "not retried: status in the earlier report: succeeded")
    )


# --- the crontab recipe ---------------------------------------------------------------


def _crontab_flock_options() -> list[str]:
    """The `flock` options of the shipped crontab line (before the lock file)."""
    text = (REPO / "jobs" / "examples" / "crontab").read_text(encoding="utf-8")
    entries = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert len(entries) == 1, entries
    command = shlex.split(entries[0].split(None, 5)[5])
    start = command.index("flock") + 1
    lock_at = next(i for i in range(start, len(command)) if not command[i].startswith("-"))
    assert command[lock_at].endswith(".lock")
    assert "batch-ims" in command[lock_at + 1]
    return command[start:lock_at]


def test_crontab_flock_line_lets_a_second_copy_exit_at_once_while_the_first_completes(
    tmp_path: Path,
) -> None:
    options = _crontab_flock_options()
    assert options == ["-n"]
    manifest = _rename_manifest(tmp_path / "m.csv", 10)
    lock = tmp_path / "nightly.lock"

    def line(report: str) -> list[str]:
        run = [sys.executable, "-m", "batch_ims", "run", str(manifest)]
        return ["flock", *options, str(lock), *run, "--report", str(tmp_path / report)]

    with emulator(images=10, latency_ms=150) as running:
        endpoint = ["--endpoint", running.url, "--rate", "100000", "--concurrency", "1"]
        first = subprocess.Popen(
            [*line("first.csv"), *endpoint],
            env=aksk_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not running.emulator.arrivals and first.poll() is None:
                assert time.monotonic() < deadline, "the first run never reached the emulator"
                time.sleep(0.02)
            second = subprocess.run(
                [*line("second.csv"), *endpoint],
                env=aksk_env(),
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            first_still_running = first.poll() is None
            _, first_err = first.communicate(timeout=60)
        finally:
            if first.poll() is None:
                first.kill()
        patches = running.emulator.request_counts[PATCH]

    assert second.returncode == 1, second.stderr
    assert first_still_running
    assert not (tmp_path / "second.csv").exists()
    assert first.returncode == 0, first_err[-2000:]
    assert [row["status"] for row in read_report(tmp_path / "first.csv")] == ["succeeded"] * 10
    assert patches == 10
    assert json_lines(first_err)[-1]["event"] == "run.finished"
