"""Helpers for end-to-end tests: the real CLI in a subprocess against a loopback emulator."""

from __future__ import annotations

import csv
import json
import os
import pwd
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from batch_ims.emulator.background import BackgroundEmulator
from batch_ims.emulator.config import EmulatorConfig

AK = "E2EACCESSKEY0000"
SK = "e2e-secret-key-do-not-log-7f3a9c"
PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


NOBODY = 65534


def refusal(what: str, path: Path, reason: str) -> str:
    """The line refusing a config file another user could have written (`batch_ims.configfile`)."""
    uid, mode = path.stat().st_uid, stat.S_IMODE(path.stat().st_mode)
    owner = f"owner {pwd.getpwuid(uid).pw_name}, uid {uid}, mode {mode:04o}"
    you = pwd.getpwuid(os.geteuid()).pw_name
    accepted = f"owned by you ({you}) or root and not writable by group or others"
    return f"{what} {path} ({owner}) {reason}: refused; use one {accepted}"


def give_to_another_user(path: Path) -> None:
    """chown `path` to nobody (uid 65534), as a file planted by another user would be."""
    try:
        os.chown(path, NOBODY, NOBODY)
    except PermissionError:
        pytest.skip("chown to nobody needs root: a file owned by another user cannot be made")


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("HUAWEICLOUD_SDK_", "BATCH_IMS_"))
    }
    env.update(extra)
    return env


def aksk_env(**extra: str) -> dict[str, str]:
    return clean_env(
        HUAWEICLOUD_SDK_AK=AK, HUAWEICLOUD_SDK_SK=SK, HUAWEICLOUD_SDK_PROJECT_ID=PROJECT, **extra
    )


@contextmanager
def emulator(**config: Any) -> Iterator[BackgroundEmulator]:
    config.setdefault("keys", ((AK, SK),))
    with BackgroundEmulator(EmulatorConfig(**config)) as running:
        yield running


def cli(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    preexec_fn: Callable[[], object] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batch_ims", *args],
        env=env if env is not None else aksk_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=preexec_fn,
    )


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_csv(path: Path, rows: Sequence[Sequence[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path
