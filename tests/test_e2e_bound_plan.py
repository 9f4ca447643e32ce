"""End to end: `plan --diff --out PLAN.json`, then `run --plan PLAN.json` applies exactly
what was reviewed, refuses another manifest or target, and sends nothing to images that
changed since (drifted). On a terminal, a run without --plan or --yes asks once first."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import aksk_env, cli, emulator, read_report, write_csv

PATCH = "PATCH /v2/cloudimages/{image_id}"
FAST = ["--rate", "100000"]
IDS = [generated_image_id(i) for i in range(4)]


def _manifest(tmp_path: Path, name: str = "m.csv") -> Path:
    rows = [["image_id", "name", "__description"]]
    rows += [[image, f"生产环境-{n}", "迁移后的镜像"] for n, image in enumerate(IDS)]
    return write_csv(tmp_path / name, rows)


def _plan(manifest: Path, url: str, out: Path) -> subprocess.CompletedProcess[str]:
    return cli(["plan", str(manifest), "--diff", "--out", str(out), "--endpoint", url, *FAST])


def _run(manifest: Path, url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["run", str(manifest), "--endpoint", url, "--report", str(tmp_path / "r.csv")]
    return cli([*args, *FAST, *extra])


def test_run_with_the_plan_applies_exactly_the_reviewed_changes(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    plan = tmp_path / "plan.json"
    with emulator(images=4) as running:
        planned = _plan(manifest, running.url, plan)
        reads = running.emulator.request_counts.get(PATCH, 0)
        applied = _run(manifest, running.url, tmp_path, "--plan", str(plan))
        names = [running.emulator.images[i]["name"] for i in IDS]
        patches = running.emulator.request_counts[PATCH]

    assert planned.returncode == 0, planned.stderr
    assert reads == 0  # the plan only reads
    document: dict[str, Any] = json.loads(plan.read_text(encoding="utf-8"))
    first = document["images"][IDS[0]]
    assert first["after"] == {"name": "生产环境-0", "__description": "迁移后的镜像"}
    assert first["read"] is True
    assert set(first["before"]) == {"name", "__description"}
    assert applied.returncode == 0, applied.stderr
    assert names == [f"生产环境-{n}" for n in range(4)]
    assert patches == 4
    assert {row["status"] for row in read_report(tmp_path / "r.csv")} == {"succeeded"}


def test_an_image_changed_since_the_plan_is_drifted_and_not_sent(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    plan = tmp_path / "plan.json"
    with emulator(images=4) as running:
        assert _plan(manifest, running.url, plan).returncode == 0
        running.emulator.images[IDS[2]]["name"] = "someone renamed it"
        result = _run(manifest, running.url, tmp_path, "--plan", str(plan))
        renamed = running.emulator.images[IDS[2]]["name"]
        patches = running.emulator.request_counts[PATCH]

    assert result.returncode == 1, result.stderr
    assert renamed == "someone renamed it"
    assert patches == 3
    rows = {row["image_id"]: row for row in read_report(tmp_path / "r.csv")}
    assert rows[IDS[2]]["status"] == "drifted"
    assert "name changed since the plan" in rows[IDS[2]]["note"]
    assert [rows[i]["status"] for i in (IDS[0], IDS[1], IDS[3])] == ["succeeded"] * 3


def test_ignore_drift_sends_the_changed_image_too(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    plan = tmp_path / "plan.json"
    with emulator(images=4) as running:
        assert _plan(manifest, running.url, plan).returncode == 0
        running.emulator.images[IDS[2]]["name"] = "someone renamed it"
        result = _run(manifest, running.url, tmp_path, "--plan", str(plan), "--ignore-drift")
        renamed = running.emulator.images[IDS[2]]["name"]

    assert result.returncode == 0, result.stderr
    assert renamed == "生产环境-2"


def test_a_manifest_edited_after_the_plan_is_refused_and_nothing_sent(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    plan = tmp_path / "plan.json"
    with emulator(images=4) as running:
        assert _plan(manifest, running.url, plan).returncode == 0
        text = manifest.read_text(encoding="utf-8").replace("生产环境-1", "测试环境-1")
        manifest.write_text(text, encoding="utf-8")
        result = _run(manifest, running.url, tmp_path, "--plan", str(plan))
        patches = running.emulator.request_counts.get(PATCH, 0)

    assert result.returncode == 2
    assert "changed since the plan was made" in result.stderr
    assert patches == 0
    errors = [line for line in result.stderr.splitlines() if '"run.error"' in line]
    assert len(errors) == 1


def test_another_endpoint_than_the_plans_is_refused_and_nothing_sent(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    plan = tmp_path / "plan.json"
    with emulator(images=4) as planned_on, emulator(images=4) as other:
        assert _plan(manifest, planned_on.url, plan).returncode == 0
        result = _run(manifest, other.url, tmp_path, "--plan", str(plan))
        patches = other.emulator.request_counts.get(PATCH, 0)

    assert result.returncode == 2
    assert "another target: image_endpoint" in result.stderr
    assert patches == 0


def test_out_without_diff_is_a_usage_error(tmp_path: Path) -> None:
    result = cli(["plan", str(_manifest(tmp_path)), "--out", str(tmp_path / "p.json")])
    assert result.returncode == 2
    assert "give --diff too" in result.stderr
    assert not (tmp_path / "p.json").exists()


def _terminal_run(manifest: Path, url: str, tmp_path: Path) -> list[str]:
    return ["run", str(manifest), "--endpoint", url, "--report", str(tmp_path / "r.csv")]


def _on_a_terminal(args: list[str], answer: bytes) -> tuple[int, str]:
    """Run the CLI with stdin and stderr on a pseudo-terminal; type `answer` when asked."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "batch_ims", *args],
        env={**aksk_env(), "TERM": "dumb"},
        stdin=follower,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    try:
        seen = _read_until(leader, b"[y/N]")
        if b"[y/N]" in seen:
            os.write(leader, answer)
        code = process.wait(timeout=60)
        seen += _read_until(leader, None)
    finally:
        os.close(leader)
    return code, seen.decode("utf-8", "replace")


def _read_until(fd: int, marker: bytes | None) -> bytes:
    """What the terminal shows, up to `marker` or until the other side closed it (EIO)."""
    seen = b""
    while marker is None or marker not in seen:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # Linux answers EIO once the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    return seen


@pytest.mark.parametrize(("answer", "code", "patches"), [(b"n\n", 2, 0), (b"y\n", 0, 4)])
def test_a_terminal_is_asked_once_and_only_yes_sends(
    tmp_path: Path, answer: bytes, code: int, patches: int
) -> None:
    manifest = _manifest(tmp_path)
    with emulator(images=4) as running:
        args = _terminal_run(manifest, running.url, tmp_path)
        exit_code, screen = _on_a_terminal([*args, *FAST], answer)
        sent = running.emulator.request_counts.get(PATCH, 0)

    assert screen.count("send changes to 4 images") == 1
    assert (exit_code, sent) == (code, patches), screen[-2000:]
    assert ("not confirmed: nothing sent" in screen) == (code == 2)
    assert (tmp_path / "r.csv").exists() == (code == 0)


def test_yes_and_off_a_terminal_never_ask(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    with emulator(images=4) as running:
        args = _terminal_run(manifest, running.url, tmp_path)
        code, screen = _on_a_terminal([*args, *FAST, "--yes"], b"")
        piped = _run(manifest, running.url, tmp_path, "--overwrite")
        patches = running.emulator.request_counts.get(PATCH, 0)

    assert code == 0, screen[-2000:]
    assert "send changes" not in screen + piped.stderr
    assert piped.returncode == 0, piped.stderr
    assert patches == 8
