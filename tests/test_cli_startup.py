"""batch_ims.cli start-up: listing commands imports no lazy command, and says the same."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from batch_ims.cli import cli
from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import aksk_env, emulator, read_report, write_csv

_HEAVY = ("batch_ims.emulator", "aiohttp.web", "pandas", "numpy")
_PROBE = """
import sys
from click.testing import CliRunner
from batch_ims.cli import cli
result = CliRunner().invoke(cli, ["--help"])
assert result.exit_code == 0, result.output
print(",".join(sorted(m for m in sys.modules if m.startswith(HEAVY))))
"""


def test_help_imports_neither_the_emulator_nor_aiohttp_web_nor_pandas_nor_numpy() -> None:
    code = f"HEAVY = {_HEAVY!r}\n{_PROBE}"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == ""


def test_a_lazy_command_is_listed_with_the_first_line_of_its_own_help() -> None:
    from batch_ims.emulator.command import emulator_command

    own = (emulator_command().help or "").strip().splitlines()[0]

    assert cli.lazy_help("emulator") == own  # type: ignore[attr-defined]


_RUN_PROBE = """
import atexit, runpy, sys
HEAVY = ("batch_ims.emulator", "aiohttp.web", "prometheus_client")
def shown():
    loaded = sorted(m for m in sys.modules if m.startswith(HEAVY))
    sys.__stdout__.write("LOADED:" + ",".join(loaded) + "\\n")
atexit.register(shown)
sys.argv = ["batch-ims", *sys.argv[1:]]
runpy.run_module("batch_ims", run_name="__main__")
"""


def test_a_run_without_metrics_loads_neither_the_emulator_nor_aiohttp_web_nor_prometheus(
    tmp_path: Path,
) -> None:
    image = generated_image_id(0)
    manifest = write_csv(tmp_path / "m.csv", [["image_id", "name"], [image, "renamed"]])
    report = ["--report", str(tmp_path / "report.csv")]
    with emulator(images=1) as running:
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                _RUN_PROBE,
                "run",
                str(manifest),
                "--endpoint",
                running.url,
                *report,
            ],
            env=aksk_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert result.returncode == 0, result.stderr
    assert read_report(tmp_path / "report.csv")[0]["status"] == "succeeded"
    loaded = [line for line in result.stdout.splitlines() if line.startswith("LOADED:")]
    assert loaded == ["LOADED:"]


def test_the_send_path_modules_load_neither_pandas_nor_numpy_nor_aiohttp_web() -> None:
    """Only the manifest reader loads pandas and numpy (and a run's report sorts with the
    numpy the reader loaded): sending, signing, retrying and recording do not need them."""
    send_path = (
        "batch_ims.run.session",
        "batch_ims.run.dispatcher",
        "batch_ims.run.image",
        "batch_ims.transport.exchange",
        "batch_ims.clouds.huawei.ims",
        "batch_ims.clouds.openstack.glance",
        "batch_ims.clouds.huawei.aksk",
        "batch_ims.output.events",
        "batch_ims.output.journal",
        "batch_ims.output.report",
    )
    code = (
        f"import importlib, sys\nfor name in {send_path!r}:\n    importlib.import_module(name)\n"
        "heavy = ('pandas', 'numpy', 'aiohttp.web', 'batch_ims.emulator')\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(heavy))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == ""
