"""End to end: the run's own files, early checks, and stops before sending begins."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from aiohttp import web

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import PROJECT, clean_env, cli, emulator, read_report, write_csv
from tests.e2e.procs import CliProcess, wait_for
from tests.e2e.tls import serve_app

AK = "E2EACCESSKEY0000"
SK = "e2e-secret-key-do-not-log-7f3a9c"


def _manifest(tmp_path: Path, count: int, name: str = "m.csv") -> Path:
    rows = [["image_id", "name"]] + [[generated_image_id(i), f"new-{i}"] for i in range(count)]
    return write_csv(tmp_path / name, rows)


def test_a_report_path_equal_to_the_manifest_is_refused_and_the_manifest_kept(
    tmp_path: Path,
) -> None:
    manifest = _manifest(tmp_path, 3)
    before = manifest.read_bytes()

    run = cli(["run", str(manifest), "--dry-run", "--report", str(manifest)])
    plan = cli(["plan", str(manifest), "--report", str(manifest)])

    assert (run.returncode, plan.returncode) == (2, 2)
    assert "same file" in run.stderr
    assert "the manifest and --report are the same file" in plan.stderr
    assert manifest.read_bytes() == before


def test_a_missing_ca_bundle_is_a_usage_error_before_anything_is_written(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, 2)
    report = tmp_path / "r.csv"

    result = cli(
        [
            "run",
            str(manifest),
            "--endpoint",
            "https://127.0.0.1:9",
            "--report",
            str(report),
            "--ca-bundle",
            str(tmp_path / "missing.pem"),
        ]
    )

    assert result.returncode == 2
    assert "--ca-bundle" in result.stderr
    assert "Traceback" not in result.stderr
    assert not report.exists()


def test_an_unwritable_summary_path_fails_before_any_request(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, 2)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with emulator(images=2) as running:
        result = cli(
            [
                "run",
                str(manifest),
                "--endpoint",
                running.url,
                "--report",
                str(tmp_path / "r.csv"),
                "--summary-json",
                str(blocker / "summary.json"),
            ]
        )
        requests = sum(running.emulator.request_counts.values())

    assert result.returncode == 2
    assert "--summary-json" in result.stderr
    assert requests == 0


def test_resume_sends_an_image_that_an_earlier_run_only_skipped(tmp_path: Path) -> None:
    """A skip by --retry-failed-from says nothing about the image: resume must send it."""
    manifest = _manifest(tmp_path, 3)
    earlier = write_csv(
        tmp_path / "earlier.csv",
        [
            ["image_id", "status"],
            [generated_image_id(0), "failed"],
            [generated_image_id(1), "succeeded"],
            [generated_image_id(2), "invalid"],
        ],
    )
    journal = tmp_path / "j.jsonl"
    with emulator(images=3) as running:
        first = cli(
            [
                "run",
                str(manifest),
                "--endpoint",
                running.url,
                "--journal",
                str(journal),
                "--report",
                str(tmp_path / "r1.csv"),
                "--retry-failed-from",
                str(earlier),
            ]
        )
        second = cli(
            [
                "run",
                str(manifest),
                "--endpoint",
                running.url,
                "--journal",
                str(journal),
                "--report",
                str(tmp_path / "r2.csv"),
                "--resume",
            ]
        )
        applied = dict(running.emulator.apply_counts)

    assert (first.returncode, second.returncode) == (0, 0), second.stderr[-1500:]
    assert applied == {generated_image_id(i): 1 for i in range(3)}
    statuses = {row["image_id"]: row["status"] for row in read_report(tmp_path / "r2.csv")}
    assert statuses == {
        generated_image_id(0): "skipped",
        generated_image_id(1): "succeeded",
        generated_image_id(2): "succeeded",
    }


def test_resume_after_skip_unchanged_does_not_patch_again(tmp_path: Path) -> None:
    ids = [generated_image_id(i) for i in range(2)]
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            ["image_id", "op", "path", "value"],
            [ids[0], "replace", "min_ram", "0"],  # already holds
            [ids[0], "replace", "name", "renamed-0"],
            [ids[1], "replace", "name", "renamed-1"],
        ],
    )
    journal = tmp_path / "j.jsonl"
    with emulator(images=2) as running:
        running.emulator.images[ids[0]]["min_ram"] = 0
        args = [
            "run",
            str(manifest),
            "--endpoint",
            running.url,
            "--journal",
            str(journal),
            "--skip-unchanged",
        ]
        first = cli([*args, "--report", str(tmp_path / "r1.csv")])
        second = cli([*args, "--report", str(tmp_path / "r2.csv"), "--resume"])
        applied = dict(running.emulator.apply_counts)

    assert (first.returncode, second.returncode) == (0, 0), second.stderr[-1500:]
    assert applied == {ids[0]: 1, ids[1]: 1}
    assert {row["status"] for row in read_report(tmp_path / "r2.csv")} == {"skipped"}


def test_sigterm_while_signing_in_reports_every_image_aborted(tmp_path: Path) -> None:
    asked: list[str] = []

    async def never_answers(request: web.Request) -> web.Response:
        asked.append(request.path)
        await asyncio.sleep(5)  # far longer than the test needs; short enough to shut down
        return web.Response()

    iam = web.Application()
    iam.router.add_route("*", "/{tail:.*}", never_answers)
    manifest = _manifest(tmp_path, 20)
    report = tmp_path / "r.csv"
    with serve_app(iam) as hanging_iam, emulator(images=20) as running:
        env = clean_env(
            HUAWEICLOUD_SDK_AK=AK,
            HUAWEICLOUD_SDK_SK=SK,
            HUAWEICLOUD_SDK_IAM_ENDPOINT=hanging_iam.url,
        )
        process = CliProcess(
            [
                "run",
                str(manifest),
                "--endpoint",
                running.url,
                "--region",
                "cn-north-4",
                "--report",
                str(report),
            ],
            folder=tmp_path / "proc",
            env=env,
        )
        with process:
            wait_for(lambda: bool(asked), timeout=30, what="the project lookup to reach IAM")
            process.send_signal(signal.SIGTERM)
            exited = process.wait(timeout=30)
        patches = sum(running.emulator.request_counts.values())

    assert exited.returncode == 143, exited.stderr[-1500:]
    rows = read_report(report)
    assert len(rows) == 20
    assert {(row["status"], row["note"]) for row in rows} == {
        ("aborted", "not sent: the run stopped first")
    }
    assert patches == 0
    assert PROJECT not in exited.stderr  # no project was ever resolved


def test_a_journal_path_equal_to_the_manifest_leaves_the_manifest_untouched(
    tmp_path: Path,
) -> None:
    manifest = _manifest(tmp_path, 3)
    before = manifest.read_bytes()
    with emulator(images=3) as running:
        result = cli(
            [
                "run",
                str(manifest),
                "--endpoint",
                running.url,
                "--journal",
                str(manifest),
                "--report",
                str(tmp_path / "r.csv"),
            ]
        )
    assert result.returncode == 2
    assert "same file" in result.stderr
    assert manifest.read_bytes() == before
    assert not (tmp_path / "r.csv").exists()


def test_resume_keeps_the_undo_rows_of_the_run_it_resumes(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, 4)
    undo, journal = tmp_path / "undo.csv", tmp_path / "j.jsonl"
    with emulator(images=4) as running:
        args = [
            "run",
            str(manifest),
            "--endpoint",
            running.url,
            "--journal",
            str(journal),
            "--undo-manifest",
            str(undo),
        ]
        first = cli([*args, "--report", str(tmp_path / "r1.csv")])
        rows_after_first = undo.read_text(encoding="utf-8").splitlines()
        second = cli([*args, "--report", str(tmp_path / "r2.csv"), "--resume"])

    assert (first.returncode, second.returncode) == (0, 0), second.stderr[-1500:]
    assert len(rows_after_first) == 1 + 4
    assert undo.read_text(encoding="utf-8").splitlines() == rows_after_first


def test_images_changed_behind_a_lost_answer_are_in_the_undo_manifest(tmp_path: Path) -> None:
    ids = [generated_image_id(i) for i in range(30)]
    manifest = write_csv(
        tmp_path / "m.csv",
        [["image_id", "op", "path", "value"]] + [[i, "remove", "owner_team", ""] for i in ids],
    )
    undo = tmp_path / "undo.csv"
    with emulator(images=30, drop_after_apply_rate=0.4, fault_seed=3) as running:
        for image_id in ids:
            running.emulator.images[image_id]["owner_team"] = "platform"
        result = cli(
            [
                "run",
                str(manifest),
                "--endpoint",
                running.url,
                "--report",
                str(tmp_path / "r.csv"),
                "--undo-manifest",
                str(undo),
                "--max-attempts",
                "8",
            ]
        )

    assert result.returncode == 0, result.stderr[-1500:]
    notes = [row["note"] for row in read_report(tmp_path / "r.csv")]
    assert any("lost" in note for note in notes)  # some answers really were lost
    restored = [line.split(",")[0] for line in undo.read_text(encoding="utf-8").splitlines()[1:]]
    assert sorted(restored) == sorted(ids)


def test_a_stop_while_workers_wait_for_the_rate_sends_nothing_more_and_exits_at_once(
    tmp_path: Path,
) -> None:
    manifest = _manifest(tmp_path, 20)
    report = tmp_path / "r.csv"
    with emulator(images=20) as running:
        process = CliProcess(
            [
                "run",
                str(manifest),
                "--endpoint",
                running.url,
                "--rate",
                "0.5",
                "--grace",
                "30",
                "--report",
                str(report),
            ],
            folder=tmp_path / "proc",
        )
        with process:
            wait_for(
                lambda: sum(running.emulator.apply_counts.values()) >= 2,
                timeout=30,
                what="two images applied",
            )
            process.send_signal(signal.SIGINT)
            exited = process.wait(timeout=30)
        applied = set(running.emulator.apply_counts)

    assert exited.returncode == 130, exited.stderr[-1500:]
    assert exited.elapsed_s < 20  # no waiting out the grace period for requests never sent
    rows = read_report(report)
    assert len(rows) == 20
    assert {r["image_id"] for r in rows if r["status"] == "succeeded"} == applied
    unsent = [r for r in rows if r["status"] == "aborted"]
    assert {r["note"] for r in unsent} == {"not sent: the run stopped first"}


def test_a_closed_stderr_loses_log_lines_but_no_report_row(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.e2e.harness import aksk_env

    manifest = _manifest(tmp_path, 200)
    report = tmp_path / "r.csv"
    with emulator(images=200) as running:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "batch_ims",
                "run",
                str(manifest),
                "--endpoint",
                running.url,
                "--report",
                str(report),
                "--rate",
                "400",
            ],
            env=aksk_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert process.stderr is not None
        process.stderr.read(200)  # like `2>&1 | head -c 200`: read a little, then go away
        process.stderr.close()
        returncode = process.wait(timeout=60)
        applied = len(running.emulator.apply_counts)

    assert returncode == 0
    assert applied == 200
    assert {row["status"] for row in read_report(report)} == {"succeeded"}
    assert len(read_report(report)) == 200
