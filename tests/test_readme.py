"""README.md's walkthroughs, run as written (against the emulator instead of the cloud)."""

from __future__ import annotations

import re
import shlex
import signal
from collections import Counter
from pathlib import Path

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import cli, emulator, read_report, write_csv
from tests.e2e.procs import CliProcess, line_count, wait_for

README = Path(__file__).resolve().parents[1] / "README.md"


def walkthrough_steps(section: str) -> dict[int, list[str]]:
    """The numbered steps (`# N. ...` then one command) of the first ```sh block of the
    README section `section`, each command split into words."""
    text = README.read_text(encoding="utf-8").split(f"## {section}\n", 1)[1]
    block = text.split("```sh\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    steps: dict[int, list[str]] = {}
    number = 0
    for line in block.splitlines():
        heading = re.match(r"# (\d+)\.", line)
        if heading:
            number = int(heading.group(1))
        elif line.strip() and not line.startswith("#"):
            steps[number] = shlex.split(line, comments=True)
    return steps


def test_walkthrough_step_5_resumes_step_4_into_the_same_report(tmp_path: Path) -> None:
    steps = walkthrough_steps("Safe migration walkthrough")
    ids = [generated_image_id(i) for i in range(60)]
    write_csv(
        tmp_path / "migration.csv", [["image_id", "name"], *([i, f"迁移-{i[:6]}"] for i in ids)]
    )
    (tmp_path / "out").mkdir()
    with emulator(images=60, latency_ms=100) as running:
        endpoint = ["--endpoint", running.url, "--concurrency", "2"]
        reviewed = cli([*steps[2][1:], *endpoint], cwd=tmp_path)  # the plan step 4 runs
        step_4 = [*steps[4][1:], *endpoint]  # steps[4][0] is `batch-ims`
        with CliProcess(step_4, folder=tmp_path / "logs", cwd=tmp_path) as proc:
            journal = tmp_path / "out" / "migration.journal.jsonl"
            wait_for(lambda: line_count(journal) >= 4, timeout=60, what="4 images")
            proc.send_signal(signal.SIGTERM)
            interrupted = proc.wait(timeout=60)
        resumed = cli([*steps[5][1:], *endpoint], cwd=tmp_path)
        applied = dict(running.emulator.apply_counts)

    assert steps[5] == [*steps[4], "--resume"]
    assert reviewed.returncode == 0, reviewed.stderr[-1500:]
    assert interrupted.returncode == 143, interrupted.stderr[-1500:]
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    assert applied == dict.fromkeys(ids, 1)
    rows = read_report(tmp_path / "out" / "report.csv")
    assert sorted(row["image_id"] for row in rows) == sorted(ids)
    statuses = Counter(row["status"] for row in rows)
    assert set(statuses) == {"succeeded", "skipped"}, statuses
