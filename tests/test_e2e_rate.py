"""End to end: the rate asked for is the rate sent, without running out of anything.

The number in flight follows the rate at the emulator's latency; an explicit --concurrency
that holds the rate down says so once; a lowered RLIMIT_NOFILE caps the number in flight
instead of passing for an unreachable endpoint; an endpoint that accepts connections and
never answers is given up by the unreachable rule, every row still reported.
"""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import aksk_env, cli, emulator, json_lines, read_report, write_csv


def _manifest(path: Path, count: int) -> tuple[Path, list[str]]:
    ids = [generated_image_id(i) for i in range(count)]
    rows = [["image_id", "name"], *([i, f"镜像-{n}"] for n, i in enumerate(ids))]
    return write_csv(path, rows), ids


def _args(manifest: Path, endpoint: str, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "run",
        str(manifest),
        "--endpoint",
        endpoint,
        "--report",
        str(tmp_path / "r.csv"),
        "--summary-json",
        str(tmp_path / "s.json"),
        "--log-format",
        "json",
        *extra,
    ]


def _events(stderr: str, name: str) -> list[dict[str, Any]]:
    return [event for event in json_lines(stderr) if event.get("event") == name]


def _summary(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    return data


@contextmanager
def _silent_endpoint() -> Iterator[str]:
    """A loopback port that accepts every connection and never answers a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)  # read nothing, answer nothing, close nothing

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.set()
        listener.close()
        thread.join(timeout=5)
        for conn in held:
            conn.close()


def test_a_silent_endpoint_stops_on_the_unreachable_rule_with_exit_4_and_every_row(
    tmp_path: Path,
) -> None:
    manifest, ids = _manifest(tmp_path / "m.csv", 60)
    with _silent_endpoint() as endpoint:
        # default rate, concurrency, attempts and unreachable limit; only the timeout short
        result = cli(_args(manifest, endpoint, tmp_path, "--timeout", "0.5"))

    assert result.returncode == 4, result.stderr[-2000:]
    unreachable = _events(result.stderr, "run.unreachable")
    assert [(e["host"], e["reason"]) for e in unreachable] == [
        ("127.0.0.1", "no answer within the timeout")
    ]
    rows = read_report(tmp_path / "r.csv")
    assert sorted(row["image_id"] for row in rows) == sorted(ids)
    assert {row["status"] for row in rows} <= {"failed", "aborted"}
    summary = _summary(tmp_path)
    # the rule, not the attempts: ten unanswered in a row stopped it, long before every
    # image had used its 5 attempts (300 requests)
    assert 10 <= summary["requests"] < 60
    assert summary["exit_code"] == 4


def test_an_explicit_concurrency_that_holds_the_rate_down_is_reported_once(
    tmp_path: Path,
) -> None:
    manifest, _ = _manifest(tmp_path / "m.csv", 80)
    with emulator(images=80, latency_ms=50) as running:
        args = _args(manifest, running.url, tmp_path, "--rate", "200", "--concurrency", "2")
        result = cli(args)

    assert result.returncode == 0, result.stderr[-2000:]
    limiting = _events(result.stderr, "concurrency.limiting")
    assert len(limiting) == 1, result.stderr[-2000:]
    event = limiting[0]
    assert (event["concurrency"], event["ceiling_source"], event["rate"]) == (
        2,
        "--concurrency",
        200.0,
    )
    assert event["reachable_rate"] < 200
    assert event["concurrency_needed"] >= 200 * 0.05 * 1.5  # Little's law with headroom
    summary = _summary(tmp_path)
    assert summary["in_flight_peak"] <= 2
    assert summary["rate_asked"] == 200.0


def test_by_default_the_number_in_flight_follows_what_the_rate_needs(tmp_path: Path) -> None:
    manifest, _ = _manifest(tmp_path / "m.csv", 150)
    with emulator(images=150, latency_ms=100) as running:
        args = _args(manifest, running.url, tmp_path, "--rate", "50", "--progress-interval", "0.2")
        result = cli(args)
        served_peak = running.emulator.in_flight_peak

    assert result.returncode == 0, result.stderr[-2000:]
    assert _events(result.stderr, "concurrency.limiting") == []
    summary = _summary(tmp_path)
    assert summary["counts"]["succeeded"] == 150
    # 50/s x 0.1 s = 5 in flight; the pacer keeps the rest of the pool waiting for a slot
    assert summary["in_flight_peak"] <= 12
    assert served_peak <= 12
    progress = _events(result.stderr, "progress")
    assert progress
    assert progress[-1]["rate_asked"] == 50.0
    assert "in_flight" in progress[-1]
    assert "(asked 50)" in result.stdout


def test_a_lowered_descriptor_limit_caps_the_concurrency_instead_of_exit_4(
    tmp_path: Path,
) -> None:
    manifest, ids = _manifest(tmp_path / "m.csv", 120)

    def few_descriptors() -> None:  # in the child only: soft and hard both 64
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    with emulator(images=120, latency_ms=20) as running:
        args = _args(manifest, running.url, tmp_path, "--rate", "100000", "--concurrency", "200")
        result = subprocess.run(
            [sys.executable, "-m", "batch_ims", *args],
            env=aksk_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            preexec_fn=few_descriptors,
        )

    assert result.returncode == 0, result.stderr[-2000:]
    capped = _events(result.stderr, "concurrency.capped")
    assert len(capped) == 1
    assert (capped[0]["reason"], capped[0]["asked"], capped[0]["soft"]) == (
        "RLIMIT_NOFILE",
        200,
        64,
    )
    assert 1 <= capped[0]["concurrency"] < 64
    assert _events(result.stderr, "run.unreachable") == []
    rows = read_report(tmp_path / "r.csv")
    assert sorted(row["image_id"] for row in rows) == sorted(ids)
    assert {row["status"] for row in rows} == {"succeeded"}
