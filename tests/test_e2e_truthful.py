"""End to end: what the tool prints and writes describes what really happened.

An unreachable endpoint stops early with one line; the summary counts reads and PATCHes
apart; the progress events carry images/s and requests/s; failure lines name the row.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import cli, emulator, json_lines, read_report, write_csv

FAST = ["--rate", "100000", "--concurrency", "8"]


def _free_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _manifest(path: Path, ids: list[str]) -> Path:
    return write_csv(path, [["image_id", "name"], *([i, f"v2-{i[:8]}"] for i in ids)])


def _run(manifest: Path, endpoint: str, report: Path, *extra: str) -> Any:
    return cli(["run", str(manifest), "--endpoint", endpoint, "--report", str(report), *extra])


def _events(stderr: str, name: str) -> list[dict[str, Any]]:
    return [event for event in json_lines(stderr) if event.get("event") == name]


def _run_unreachable(
    folder: Path, images: int, *extra: str
) -> tuple[Any, dict[str, Any], list[dict[str, str]]]:
    """A run against a loopback port nobody listens on: result, summary, report rows (every
    image in them, checked)."""
    ids = [generated_image_id(i) for i in range(images)]
    manifest = _manifest(folder / "m.csv", ids)
    endpoint = f"http://127.0.0.1:{_free_port()}"
    summary_path = folder / "s.json"
    args = [*FAST, *extra, "--summary-json", str(summary_path)]
    result = _run(manifest, endpoint, folder / "r.csv", *args)
    assert result.returncode == 4, result.stderr[-2000:]
    rows = read_report(folder / "r.csv")
    assert sorted(row["image_id"] for row in rows) == sorted(ids)
    return result, json.loads(summary_path.read_text(encoding="utf-8")), rows


def test_an_unreachable_endpoint_stops_after_ten_refused_connections_with_exit_4(
    tmp_path: Path,
) -> None:
    result, summary, rows = _run_unreachable(tmp_path, 300, "--max-attempts", "2")

    unreachable = _events(result.stderr, "run.unreachable")
    assert len(unreachable) == 1
    assert unreachable[0]["host"] == "127.0.0.1"
    # ten in a row stop it; the requests already in flight (concurrency 8) end too
    assert 10 <= summary["requests"] <= 10 + 8
    assert {row["status"] for row in rows} <= {"failed", "aborted"}


def test_the_summary_counts_reads_and_patches_apart(tmp_path: Path) -> None:
    ids = [generated_image_id(i) for i in range(20)]
    manifest = _manifest(tmp_path / "m.csv", ids)
    with emulator(images=20) as running:
        result = _run(
            manifest,
            running.url,
            tmp_path / "r.csv",
            *FAST,
            "--skip-unchanged",
            "--summary-json",
            str(tmp_path / "s.json"),
        )
        served = dict(running.emulator.request_counts)

    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert summary["requests_by_method"] == {"GET": 20, "PATCH": 20}
    assert summary["requests"] == 40
    assert served["GET /v2/cloudimages"] == 20
    assert served["PATCH /v2/cloudimages/{image_id}"] == 20
    assert "20 GET, 20 PATCH" in result.stdout


def test_failure_lines_name_the_manifest_row_and_progress_shows_both_rates(
    tmp_path: Path,
) -> None:
    ids = [generated_image_id(i) for i in range(30)]
    missing = "9e8d7c6b-5a49-4382-8170-6f5e4d3c2b1a"
    manifest = _manifest(tmp_path / "m.csv", [*ids, missing])
    with emulator(images=30, latency_ms=40) as running:
        result = _run(
            manifest,
            running.url,
            tmp_path / "r.csv",
            *("--rate", "100000", "--concurrency", "2", "--progress-interval", "0.2"),
        )

    assert result.returncode == 1, result.stderr[-2000:]
    failures = [e for e in _events(result.stderr, "image.finished") if e["status"] == "failed"]
    assert [(e["image_id"], e["rows"]) for e in failures] == [(missing, "32")]
    progress = _events(result.stderr, "progress")
    assert progress, result.stderr[-2000:]
    assert set(progress[-1]) >= {
        "done",
        "total",
        "failed",
        "images_per_s",
        "requests_per_s",
        "elapsed_s",
        "eta_s",
    }
    assert progress[-1]["total"] == 31


def test_plan_warns_of_a_likely_typo_and_strict_makes_its_rows_invalid(tmp_path: Path) -> None:
    image = generated_image_id(1)
    manifest = write_csv(
        tmp_path / "m.csv", [["image_id", "op", "path", "value"], [image, "add", "descripton", "x"]]
    )

    lenient = cli(["plan", str(manifest)])
    strict = cli(["plan", str(manifest), "--strict"])

    assert lenient.returncode == 0, lenient.stderr[-2000:]
    assert "did you mean '__description'?" in lenient.stdout
    assert strict.returncode == 1, strict.stderr[-2000:]
    assert "1 invalid" in strict.stdout.splitlines()[0]


def test_refused_reads_count_no_patch_attempt_and_never_say_may_have_been_applied(
    tmp_path: Path,
) -> None:
    _, summary, rows = _run_unreachable(tmp_path, 40, "--skip-unchanged", "--max-attempts", "3")

    assert summary["requests_by_method"]["PATCH"] == 0
    assert summary["requests_by_method"]["GET"] >= 10
    assert {row["attempts"] for row in rows} == {"0"}  # attempts are PATCHes (README)
    assert not [row["note"] for row in rows if "applied" in row["note"]]
    read_rows = [row for row in rows if row["error_code"] == "connection_error"]
    assert read_rows
    assert {row["note"].split(";")[0] for row in read_rows} == {
        "the read before the PATCH failed: no PATCH sent"
    }


def test_rows_of_an_image_read_the_same_in_the_log_and_the_report(tmp_path: Path) -> None:
    found = generated_image_id(0)
    missing = "9e8d7c6b-5a49-4382-8170-6f5e4d3c2b1a"
    manifest = write_csv(
        tmp_path / "m.csv",
        [
            ["image_id", "op", "path", "value"],
            [missing, "replace", "name", "镜像测试-3"],
            [found, "replace", "name", "生产环境 Web 镜像"],
            [missing, "add", "__description", "杭州团队"],
            [missing, "replace", "min_ram", "2048"],
        ],
    )
    with emulator(images=1) as running:
        result = _run(manifest, running.url, tmp_path / "r.csv", *FAST)

    assert result.returncode == 1, result.stderr[-2000:]
    logged = [e["rows"] for e in _events(result.stderr, "image.finished") if "rows" in e]
    reported = [row["rows"] for row in read_report(tmp_path / "r.csv") if row["status"] == "failed"]
    assert (logged, reported) == (["2;4;5"], ["2;4;5"])
