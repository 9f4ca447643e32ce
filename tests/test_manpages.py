"""The man pages in docs/man/ are what click-man makes of the commands today."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.manpages import page_date, write_pages

# click-man's own use of click's helper, not ours
pytestmark = pytest.mark.filterwarnings("ignore:'click.utils.make_default_short_help'")

COMMITTED = Path(__file__).resolve().parent.parent / "docs" / "man"


def _pages(folder: Path) -> dict[str, str]:
    return {page.name: page.read_text(encoding="utf-8") for page in sorted(folder.glob("*.1"))}


def test_committed_man_pages_match_the_commands_regenerated(tmp_path: Path) -> None:
    committed = _pages(COMMITTED)
    write_pages(tmp_path, date=page_date(COMMITTED / "batch-ims.1"))
    assert _pages(tmp_path) == committed, "docs/man/ is stale: run `make man`"


def test_every_command_has_a_page_and_the_top_page_lists_it() -> None:
    top = (COMMITTED / "batch-ims.1").read_text(encoding="utf-8")
    for command in ("demo", "emulator", "plan", "run", "validate-job"):
        assert (COMMITTED / f"batch-ims-{command}.1").is_file()
        assert f"\\fB{command}\\fP" in top
