"""Shell completion as the README documents it: `_BATCH_IMS_COMPLETE={bash,zsh,fish}_source`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from batch_ims.cli import cli


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _batch_ims_completion batch-ims"),
        ("zsh", "compdef _batch_ims_completion batch-ims"),
        ("fish", "complete --no-files --command batch-ims"),
    ],
)
def test_completion_script_is_generated_for_the_shell(shell: str, marker: str) -> None:
    env = {"_BATCH_IMS_COMPLETE": f"{shell}_source"}
    result = CliRunner().invoke(cli, [], prog_name="batch-ims", env=env)
    assert (result.exit_code, marker in result.output) == (0, True), result.output


def test_completing_a_command_name_offers_the_lazily_imported_emulator() -> None:
    env = {"_BATCH_IMS_COMPLETE": "bash_complete", "COMP_WORDS": "batch-ims em", "COMP_CWORD": "1"}
    result = CliRunner().invoke(cli, [], prog_name="batch-ims", env=env)
    assert result.output.splitlines() == ["plain,emulator"]


def test_completing_an_option_of_run_offers_its_options() -> None:
    words = "batch-ims run --concu"
    env = {"_BATCH_IMS_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": "2"}
    result = CliRunner().invoke(cli, [], prog_name="batch-ims", env=env)
    assert result.output.splitlines() == ["plain,--concurrency"]
