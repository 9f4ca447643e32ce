"""The man pages in docs/man/, generated from the click commands by click-man.

`make man` (`python -m tests.manpages docs/man`) rewrites them; `test_manpages.py`
regenerates them and compares, so they cannot drift from `--help`. The date in each
page's `.TH` line is the day they were last written: the test keeps the committed one.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from click_man.core import write_man_pages

from batch_ims import __version__
from batch_ims.cli import cli

NAME = "batch-ims"


def _every_command() -> click.Group:
    """The CLI as a plain group holding every command: click-man walks `commands`, which
    leaves out the ones the CLI imports only when used."""
    ctx = click.Context(cli, info_name=NAME)
    commands = {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}
    return click.Group(
        NAME,
        commands={name: command for name, command in commands.items() if command is not None},
        params=cli.params,
        help=cli.help,
    )


def write_pages(target: Path, *, date: str) -> list[Path]:
    """Write `batch-ims.1` and one `batch-ims-COMMAND.1` per command into `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.1"):
        old.unlink()
    write_man_pages(NAME, _every_command(), version=__version__, target_dir=str(target), date=date)
    return sorted(target.glob("*.1"))


def page_date(page: Path) -> str:
    """The date field of a page's `.TH` line."""
    title = page.read_text(encoding="utf-8").splitlines()[0]
    return title.split('"')[5]


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/man")
    for path in write_pages(out, date=datetime.now(UTC).strftime("%Y-%m-%d")):
        print(path)
