"""End to end, issues 17 and 13: the run's outputs are owned by one run, written whole, never
through links or into other users' files, in manifest order, and never silently replaced."""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import aksk_env, clean_env, cli, emulator, json_lines, read_report, write_csv

FAST = ["--rate", "100000", "--concurrency", "8", "--log-format", "json"]
OTHER_UID = 65534  # nobody


def _manifest(folder: Path, count: int, *, name: str = "m.csv") -> tuple[Path, list[str]]:
    ids = [generated_image_id(i) for i in range(count)]
    rows = [["image_id", "name"], *([image_id, f"out-{i}"] for i, image_id in enumerate(ids))]
    return write_csv(folder / name, rows), ids


def _outputs(report: Path, summary: Path) -> list[str]:
    return ["--report", str(report), "--summary-json", str(summary)]


def _errors(stderr: str) -> list[str]:
    return [e["error"] for e in json_lines(stderr) if e["event"] == "run.error"]


# 17.1: every output locked, in every mode


@pytest.mark.parametrize("which", ["--report", "--summary-json"])
def test_a_dry_run_cannot_write_an_output_another_run_holds(tmp_path: Path, which: str) -> None:
    manifest, _ = _manifest(tmp_path, 3)
    held = tmp_path / ("held.csv" if which == "--report" else "held.json")
    args = ["run", str(manifest), "--dry-run", which, str(held), "--log-format", "json"]
    if which == "--summary-json":
        args += ["--report", str(tmp_path / "r.csv")]

    from batch_ims.output.files import OutputFile

    with OutputFile("test", held, overwrite=True):  # what a running batch-ims holds
        result = cli(args)

    assert result.returncode == 75, result.stderr
    assert "another batch-ims run" in _errors(result.stderr)[0]
    assert not held.exists()


# 17.2: atomic final files, a full disk is exit 74 and one line


def _limited(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_stops_the_run_with_exit_74_one_line_and_the_earlier_report_intact(
    tmp_path: Path,
) -> None:
    manifest, ids = _manifest(tmp_path, 400)
    report, summary = tmp_path / "r.csv", tmp_path / "s.json"
    with emulator(images=400) as running:
        base = ["run", str(manifest), "--endpoint", running.url, *FAST]
        first = cli([*base, "--report", str(report), "--summary-json", str(summary)])
        assert first.returncode == 0, first.stderr
        report_before, summary_before = report.read_bytes(), summary.read_bytes()
        journal = tmp_path / "full.journal.jsonl"
        outputs = [
            "--report",
            str(report),
            "--summary-json",
            str(summary),
            "--journal",
            str(journal),
        ]
        result = subprocess.run(
            [sys.executable, "-m", "batch_ims", *base, *outputs, "--overwrite"],
            env=aksk_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            preexec_fn=lambda: _limited(24_000),
        )
        applied = sum(running.emulator.apply_counts.values())

    assert result.returncode == 74, result.stderr[-2000:]
    events = json_lines(result.stderr)  # JSON lines only: no traceback
    errors = _errors(result.stderr)
    assert len(errors) == 1
    assert "cannot write: File too large" in errors[0]
    assert "Traceback" not in result.stderr
    assert report.read_bytes() == report_before or len(read_report(report)) == len(ids)
    assert summary.read_bytes() == summary_before or json.loads(summary.read_text())
    assert any(e["event"] == "run.stopping" for e in events)
    written = [json.loads(line) for line in journal.read_text().splitlines()[1:-1]]
    assert applied - 400 <= len(written) + 8 + 1  # the run stopped: at most the in-flight more
    assert applied - 400 < 400
    assert list(tmp_path.glob(".*.tmp")) == []
    assert list(tmp_path.glob(".*.lock")) == []


def test_sigkill_leaves_the_earlier_report_and_summary_untouched(tmp_path: Path) -> None:
    manifest, _ = _manifest(tmp_path, 60)
    report, summary = tmp_path / "r.xlsx", tmp_path / "s.json"
    report.write_bytes(b"earlier report")
    summary.write_bytes(b"earlier summary")
    os.utime(report, (1_000_000, 1_000_000))
    with emulator(images=60, latency_ms=100) as running:
        args = ["run", str(manifest), "--endpoint", running.url, "--report", str(report)]
        args += ["--summary-json", str(summary), "--overwrite", "--concurrency", "2"]
        with subprocess.Popen(
            [sys.executable, "-m", "batch_ims", *args],
            env=aksk_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) as proc:
            _wait_for_lines(tmp_path / "r.xlsx.journal.jsonl", 5)
            proc.kill()

    assert report.read_bytes() == b"earlier report"
    assert report.stat().st_mtime == 1_000_000
    assert summary.read_bytes() == b"earlier summary"


def _wait_for_lines(path: Path, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) > count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {count} lines")


# 17.3: shared folders


def test_new_outputs_are_created_private(tmp_path: Path) -> None:
    manifest, _ = _manifest(tmp_path, 3)
    report, summary = tmp_path / "r.csv", tmp_path / "s.json"
    with emulator(images=3) as running:
        result = cli(
            ["run", str(manifest), "--endpoint", running.url, *_outputs(report, summary), *FAST]
        )

    assert result.returncode == 0, result.stderr
    journal = tmp_path / "r.csv.journal.jsonl"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (report, summary, journal)}
    assert modes == {"r.csv": 0o600, "s.json": 0o600, "r.csv.journal.jsonl": 0o600}


@pytest.mark.parametrize("which", ["--report", "--journal", "--summary-json"])
def test_a_symlink_at_an_output_path_is_refused_and_its_target_kept(
    tmp_path: Path, which: str
) -> None:
    manifest, _ = _manifest(tmp_path, 3)
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    link = tmp_path / ("link.json" if which == "--summary-json" else "link.csv")
    link.symlink_to(target)
    args = ["run", str(manifest), "--dry-run", which, str(link), "--overwrite", *FAST]
    if which == "--journal":
        args = [a for a in args if a != "--dry-run"] + ["--endpoint", "http://127.0.0.1:9"]
    if which != "--report":
        args += ["--report", str(tmp_path / "r.csv")]

    result = cli(args)

    assert result.returncode == 2, result.stderr
    assert "symbolic link" in _errors(result.stderr)[0]
    assert target.read_text() == "keep me\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
@pytest.mark.parametrize("which", ["report", "journal"])
def test_an_output_owned_by_another_user_is_refused(tmp_path: Path, which: str) -> None:
    manifest, ids = _manifest(tmp_path, 3)
    report, journal = tmp_path / "r.csv", tmp_path / "j.jsonl"
    planted = report if which == "report" else journal
    line = {"image_id": ids[0], "digest": "x", "status": "succeeded", "holds": True}
    planted.write_text(json.dumps(line) + "\n")
    os.chown(planted, OTHER_UID, OTHER_UID)

    result = cli(
        [
            "run",
            str(manifest),
            "--endpoint",
            "http://127.0.0.1:9",
            "--report",
            str(report),
            "--journal",
            str(journal),
            "--resume",
            *FAST,
        ]
    )

    assert result.returncode == 2, result.stderr
    assert "belongs to another user (uid 65534)" in _errors(result.stderr)[0]


# 17.4: a hard link is the same file


def test_a_report_hard_linked_to_the_manifest_is_refused_and_the_manifest_kept(
    tmp_path: Path,
) -> None:
    manifest, _ = _manifest(tmp_path, 3)
    before = manifest.read_bytes()
    linked = tmp_path / "r.csv"
    os.link(manifest, linked)

    result = cli(["run", str(manifest), "--dry-run", "--report", str(linked), "--overwrite"])

    assert result.returncode == 2
    assert "same file" in result.stderr
    assert manifest.read_bytes() == before


# 17.5: strftime only in the template the user wrote


def test_a_percent_in_the_job_files_folder_is_not_expanded(tmp_path: Path) -> None:
    folder = tmp_path / "jobs%dir"
    folder.mkdir()
    _manifest(folder, 2)
    job = folder / "job.toml"
    job.write_text('manifest = "m.csv"\ndry-run = true\nreport = "out/r-%Y.csv"\n')

    result = cli(["run", "--job", str(job)])

    assert result.returncode == 0, result.stderr
    year = datetime.now(UTC).strftime("%Y")
    assert (folder / "out" / f"r-{year}.csv").is_file()


def test_a_template_that_expands_to_a_slash_is_refused(tmp_path: Path) -> None:
    manifest, _ = _manifest(tmp_path, 2)

    result = cli(["run", str(manifest), "--dry-run", "--report", str(tmp_path / "r-%D.csv"), *FAST])

    assert result.returncode == 2
    assert "holds a '/'" in _errors(result.stderr)[0]


# 17.6: secrets in no output


class _EchoingIdentity(BaseHTTPRequestHandler):
    """A hostile identity endpoint: its 401 answer echoes the request, password included."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        answer = json.dumps({"error": {"code": 401, "title": "Unauthorized", "message": body}})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args: object) -> None:
        """Quiet."""


@contextmanager
def _echoing_identity() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingIdentity)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_password_echoed_by_the_identity_endpoint_reaches_no_output(tmp_path: Path) -> None:
    password = "e2e-password-ECHOED-5c1d9e"
    manifest, _ = _manifest(tmp_path, 4)
    report, summary = tmp_path / "r.jsonl", tmp_path / "s.json"
    with emulator(images=4) as running, _echoing_identity() as iam:
        env = clean_env(
            BATCH_IMS_IAM_DOMAIN="acme",
            BATCH_IMS_IAM_USER="ops",
            BATCH_IMS_IAM_PASSWORD=password,
            HUAWEICLOUD_SDK_IAM_ENDPOINT=iam,
            HUAWEICLOUD_SDK_PROJECT_ID="0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        )
        result = cli(
            ["run", str(manifest), "--endpoint", running.url, *_outputs(report, summary), *FAST],
            env=env,
        )

    assert result.returncode in (1, 3), result.stderr
    texts = {
        "report": report.read_text(),
        "journal": (tmp_path / "r.jsonl.journal.jsonl").read_text(),
        "summary": summary.read_text(),
        "stderr": result.stderr,
        "stdout": result.stdout,
    }
    assert "***" in texts["report"]  # the echo arrived, and was cut
    assert [name for name, text in texts.items() if password in text] == []


# 13.4: manifest order


def test_the_report_lists_images_in_manifest_order_whatever_order_they_finished_in(
    tmp_path: Path,
) -> None:
    manifest, ids = _manifest(tmp_path, 60)
    report = tmp_path / "r.csv"
    with emulator(images=60, fail_rate=0.3, fault_seed=7) as running:
        result = cli(
            ["run", str(manifest), "--endpoint", running.url, "--report", str(report), *FAST]
        )

    assert result.returncode in (0, 1), result.stderr
    journal = [json.loads(line) for line in (tmp_path / "r.csv.journal.jsonl").open()][1:]
    finished = [line["image_id"] for line in journal]
    assert finished != ids  # retried images finished later ...
    assert [row["image_id"] for row in read_report(report)] == ids  # ... and are still in place


def test_after_sigkill_and_resume_every_row_appears_once_in_manifest_order(
    tmp_path: Path,
) -> None:
    manifest, ids = _manifest(tmp_path, 40)
    report = tmp_path / "r.csv"
    journal = tmp_path / "r.csv.journal.jsonl"
    with emulator(images=40, latency_ms=60) as running:
        args = ["run", str(manifest), "--endpoint", running.url, "--report", str(report)]
        args += ["--summary-json", str(tmp_path / "s.json")]
        with subprocess.Popen(
            [sys.executable, "-m", "batch_ims", *args, "--concurrency", "3"],
            env=aksk_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) as proc:
            _wait_for_lines(journal, 6)
            proc.kill()
        left = {p.name: p.stat().st_size for p in tmp_path.glob(".*")}
        resumed = cli([*args, *FAST, "--resume", "--journal", str(journal)])

    # what README says kill -9 leaves: empty `.NAME.PID.tmp` and `.NAME.lock` files, removed
    # by the next run writing the same output
    assert left == {
        ".r.csv.lock": 0,
        f".r.csv.{proc.pid}.tmp": 0,
        ".s.json.lock": 0,
        f".s.json.{proc.pid}.tmp": 0,
    }
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text("utf-8").split())
    assert "`kill -9` can leave empty `.NAME.PID.tmp` and `.NAME.lock` files" in readme
    assert list(tmp_path.glob(".*")) == []
    assert resumed.returncode == 0, resumed.stderr
    rows = read_report(report)
    assert [row["image_id"] for row in rows] == ids
    assert {row["status"] for row in rows} <= {"succeeded", "skipped"}
    assert any(row["status"] == "skipped" for row in rows)


# 13.5: never silently replace an earlier run's outputs


def test_a_second_nightly_run_on_the_same_day_is_refused_unless_overwrite(tmp_path: Path) -> None:
    _manifest(tmp_path, 3)
    job = tmp_path / "nightly.toml"
    job.write_text(
        'manifest = "m.csv"\ndry-run = true\nreport = "out/nightly-%Y%m%d.csv"\n'
        'summary-json = "out/nightly-%Y%m%d.json"\n'
    )

    first = cli(["run", "--job", str(job)])
    (report,) = (tmp_path / "out").glob("nightly-*.csv")
    before = report.read_bytes()
    second = cli(["run", "--job", str(job), "--log-format", "json"])
    after_refusal = report.read_bytes()
    job.write_text(job.read_text() + "overwrite = true\n")
    third = cli(["run", "--job", str(job)])

    assert (first.returncode, second.returncode, third.returncode) == (0, 2, 0)
    (error,) = _errors(second.stderr)
    assert str(report) in error
    assert "--overwrite" in error
    assert after_refusal == before


# The XLSX report


def test_the_xlsx_report_has_a_filter_a_frozen_header_numbers_and_red_failures(
    tmp_path: Path,
) -> None:
    from openpyxl import load_workbook

    manifest = write_csv(
        tmp_path / "m.csv",
        [["image_id", "name"], [generated_image_id(0), "ok"], ["not-an-id", "bad"]],
    )
    report = tmp_path / "r.xlsx"
    with emulator(images=1) as running:
        result = cli(
            ["run", str(manifest), "--endpoint", running.url, "--report", str(report), *FAST]
        )

    assert result.returncode == 1, result.stderr
    sheet = load_workbook(report).worksheets[0]
    header = [c.value for c in sheet[1]]
    ok, bad = ([c for c in row] for row in sheet.iter_rows(min_row=2))
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:M3"
    assert sheet.column_dimensions["A"].width >= 36
    values = dict(zip(header, (c.value for c in ok), strict=True))
    assert (values["http_status"], values["attempts"]) == (200, 1)
    assert isinstance(values["duration_ms"], int)
    assert ok[0].fill.fgColor.rgb != "FFFFC7CE"
    assert {c.fill.fgColor.rgb for c in bad} == {"FFFFC7CE"}
