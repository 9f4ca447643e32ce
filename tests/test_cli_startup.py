"""batch_ims.cli start-up: listing commands imports no lazy command, and says the same."""

from __future__ import annotations

import subprocess
import sys

from batch_ims.cli import cli

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
