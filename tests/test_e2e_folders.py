"""End to end, issue 25 item 8: an output is never written into a folder another user can
redirect: a symbolic link they own on its path (`sh/out -> /root-only`), or a folder anyone
may write to without the sticky bit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batch_ims.emulator.images import generated_image_id
from tests.e2e.harness import cli, json_lines, write_csv

OTHER_UID = 65534  # nobody


def _manifest(folder: Path) -> Path:
    rows = [["image_id", "name"], *([generated_image_id(i), f"镜像名称-{i}"] for i in range(3))]
    return write_csv(folder / "m.csv", rows)


def _folder(path: Path, mode: int) -> Path:
    path.mkdir()
    path.chmod(mode)  # exactly, whatever the umask
    return path


def _dry_run(folder: Path, *outputs: str) -> tuple[int, list[str]]:
    args = ["run", str(_manifest(folder)), "--dry-run", "--log-format", "json", *outputs]
    result = cli(args)
    return result.returncode, [e["error"] for e in json_lines(result.stderr) if "error" in e]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a link to another user")
@pytest.mark.parametrize("option", ["--report", "--summary-json", "--metrics-file"])
def test_another_users_symlinked_folder_does_not_receive_the_output(
    tmp_path: Path, option: str
) -> None:
    shared = _folder(tmp_path / "sh", 0o1777)
    protected = _folder(tmp_path / "root-only", 0o700)
    (shared / "out").symlink_to(protected)
    os.lchown(shared / "out", OTHER_UID, OTHER_UID)
    name = {"--report": "r.csv", "--summary-json": "s.json", "--metrics-file": "m.prom"}[option]
    outputs = [option, str(shared / "out" / name)]
    if option != "--report":
        outputs += ["--report", str(tmp_path / "r.csv")]

    code, errors = _dry_run(tmp_path, *outputs)

    assert code == 2
    assert "is a symbolic link owned by another user (uid 65534)" in errors[0]
    assert list(protected.iterdir()) == []


def test_a_folder_anyone_may_write_without_the_sticky_bit_is_refused(tmp_path: Path) -> None:
    open_folder = _folder(tmp_path / "open", 0o777)

    code, errors = _dry_run(tmp_path, "--report", str(open_folder / "r.csv"))

    assert code == 2
    assert "writable by every user and has no sticky bit" in errors[0]
    assert list(open_folder.iterdir()) == []


def test_a_sticky_shared_folder_and_ones_own_link_are_fine(tmp_path: Path) -> None:
    shared = _folder(tmp_path / "sh", 0o1777)
    (tmp_path / "mine").mkdir()
    (shared / "out").symlink_to(tmp_path / "mine")

    code, errors = _dry_run(tmp_path, "--report", str(shared / "out" / "r.csv"))

    assert (code, errors) == (0, [])
    assert (tmp_path / "mine" / "r.csv").exists()
