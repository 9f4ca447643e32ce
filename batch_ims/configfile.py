"""Files that carry credentials or endpoints (cloud configs, the credentials file, job files):
whose they are and how big, checked on the open file before a byte of them is used.

Whoever can write such a file can send the run's credentials to a host of their choosing, so a
file owned by another user, or writable by group or others, is refused (UsageError: exit 2)
with one line naming the file, its owner and mode, and what would be accepted: owned by you
or root, not writable by group or others (ssh's rule for its own files). The check is made on
the opened file (`fstat`), so a file swapped after the check is never the one read.
"""

from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from batch_ims.errors import UsageError

MAX_CONFIG_BYTES = 1024 * 1024  # a config file is a few KB; this bounds any parser's input

_ACCEPTED = "owned by you ({you}) or root and not writable by group or others"


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def untrusted_reason(info: os.stat_result) -> str | None:
    """Why a file with this status may have been written by someone else, or None."""
    if os.name != "posix":
        return None
    if info.st_uid not in (os.geteuid(), 0):
        return "is owned by another user"
    writers = [
        who
        for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH))
        if info.st_mode & bit
    ]
    if writers:
        return f"is writable by {' and '.join(writers)}"
    return None


def refusal(what: str, path: Path, info: os.stat_result, reason: str) -> UsageError:
    """The one line that refuses `path`: its owner and mode, and what would be accepted."""
    owner = f"owner {_user(info.st_uid)}, uid {info.st_uid}"
    mode = f"mode {stat.S_IMODE(info.st_mode):04o}"
    accepted = _ACCEPTED.format(you=_user(os.geteuid()))
    return UsageError(f"{what} {path} ({owner}, {mode}) {reason}: refused; use one {accepted}")


def check_trusted(what: str, path: Path, info: os.stat_result) -> None:
    """UsageError when the file with status `info` is another user's or others may write it."""
    reason = untrusted_reason(info)
    if reason is not None:
        raise refusal(what, path, info, reason)


@dataclass(frozen=True, slots=True)
class Trusted:
    """A config file's bytes and its permission bits, as read (see `read_trusted`)."""

    data: bytes
    mode: int


def read_trusted(path: Path, *, what: str, limit: int = MAX_CONFIG_BYTES) -> Trusted:
    """`path` opened once and checked on the open file: owner and mode (see the module), at
    most `limit` bytes. Raises UsageError for those, OSError when it cannot be read (the caller
    words it)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        check_trusted(what, path, info)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UsageError(
            f"{what} {path} is larger than {limit // 1024} KiB: refused; "
            "such a file is a few KB (is it the right file?)"
        )
    return Trusted(data, stat.S_IMODE(info.st_mode))
