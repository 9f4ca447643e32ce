"""batch_ims.configfile: who may have written a config file, judged on the opened file, and its
size bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batch_ims.configfile import read_trusted, untrusted_reason
from batch_ims.errors import UsageError
from tests.e2e.harness import give_to_another_user, refusal


def _file(tmp_path: Path, mode: int, text: str = "[默认]\nak = x\n") -> Path:
    path = tmp_path / "配置.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o400, 0o755])
def test_your_own_file_not_writable_by_others_is_read(tmp_path: Path, mode: int) -> None:
    path = _file(tmp_path, mode)

    read = read_trusted(path, what="job file")

    assert (read.data.decode(), read.mode) == ("[默认]\nak = x\n", mode)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        (0o620, "is writable by group"),
        (0o646, "is writable by others"),
        (0o777, "is writable by group and others"),
    ],
)
def test_a_file_group_or_others_may_write_is_refused(
    tmp_path: Path, mode: int, reason: str
) -> None:
    path = _file(tmp_path, mode)

    with pytest.raises(UsageError) as refused:
        read_trusted(path, what="job file")

    assert str(refused.value) == refusal("job file", path, reason)


def test_another_users_file_is_refused_whatever_its_mode(tmp_path: Path) -> None:
    path = _file(tmp_path, 0o600)
    give_to_another_user(path)

    with pytest.raises(UsageError) as refused:
        read_trusted(path, what="credentials file")

    assert str(refused.value) == refusal("credentials file", path, "is owned by another user")


def test_a_symlink_is_judged_by_the_file_it_reaches(tmp_path: Path) -> None:
    target = _file(tmp_path, 0o666)
    link = tmp_path / "link.toml"
    link.symlink_to(target)

    reason = untrusted_reason(os.stat(link))

    assert reason == "is writable by group and others"


def test_a_file_over_the_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = _file(tmp_path, 0o600, "a = 1\n" * 200)

    with pytest.raises(UsageError) as refused:
        read_trusted(path, what="job file", limit=1024)

    assert str(refused.value) == (
        f"job file {path} is larger than 1 KiB: refused; such a file is a few KB (is it the "
        "right file?)"
    )


def test_a_missing_file_is_left_to_the_caller_to_word(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_trusted(tmp_path / "无.toml", what="job file")
