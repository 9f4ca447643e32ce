"""Where `fcntl` does not exist (Windows): plan and validate-job work, run is refused.

The CLI runs in a subprocess whose `sitecustomize` makes `import fcntl` raise ImportError,
as on Windows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import Workbook

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import aksk_env, cli, emulator

_NO_FCNTL = """
import sys


class _NoFcntl:
    def find_spec(self, name, path=None, target=None):
        if name == "fcntl":
            raise ImportError("No module named 'fcntl'")
        return None


sys.modules.pop("fcntl", None)
sys.meta_path.insert(0, _NoFcntl())
"""


@pytest.fixture
def without_fcntl(tmp_path: Path) -> dict[str, str]:
    """The environment of a Python in which `import fcntl` fails."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_NO_FCNTL, encoding="utf-8")
    return aksk_env(PYTHONPATH=str(hook))


def _workbook(path: Path) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(["image_id", "name", "__description"])
    sheet.append([generated_image_id(0), "web-01", "生产环境 Web 镜像"])
    sheet.append([generated_image_id(1), "镜像测试-3", "测试环境"])
    book.save(path)
    return path


def test_the_hook_really_blocks_fcntl(without_fcntl: dict[str, str]) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import fcntl"],
        env=without_fcntl,
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 1
    assert "ImportError: No module named 'fcntl'" in probe.stderr


def test_plan_and_validate_job_work_without_fcntl(
    tmp_path: Path, without_fcntl: dict[str, str]
) -> None:
    manifest = _workbook(tmp_path / "镜像清单.xlsx")
    job = tmp_path / "夜间任务.toml"
    job.write_text(f'manifest = "{manifest.name}"\nreport = "out.csv"\n', encoding="utf-8")
    report = tmp_path / "plan-report.csv"

    planned = cli(["plan", str(manifest), "--report", str(report)], env=without_fcntl)
    checked = cli(["validate-job", str(job)], env=without_fcntl)

    assert planned.returncode == 0, planned.stderr
    assert "2 rows, 2 images to update" in planned.stdout
    assert "'生产环境 Web 镜像'" in planned.stdout
    assert report.exists()
    assert checked.returncode == 0, checked.stderr
    assert "ok: manifest" in checked.stdout


def test_run_without_fcntl_exits_2_with_one_line_and_touches_nothing(
    tmp_path: Path, without_fcntl: dict[str, str]
) -> None:
    manifest = _workbook(tmp_path / "镜像清单.xlsx")
    report = tmp_path / "out" / "report.csv"
    with emulator(images=2) as running:
        args = ["run", str(manifest), "--endpoint", running.url, "--report", str(report)]
        result = cli([*args, "--log-format", "console"], env=without_fcntl)
        requests = sum(running.emulator.request_counts.values())

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "batch-ims: error: run needs file locks (the fcntl module), which this system does "
        "not have: run it on Linux or macOS; plan and validate-job work here"
    ]
    assert requests == 0
    assert not (tmp_path / "out").exists()
