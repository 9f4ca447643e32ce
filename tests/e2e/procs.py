"""Helpers for end-to-end tests that drive the CLI as a live process: signals, kills, polls.

The CLI's output goes to files, not pipes: a run logs one JSON line per image on stderr,
and an unread pipe would fill up and stall it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.harness import aksk_env


@dataclass(frozen=True, slots=True)
class Exited:
    """How a CLI process ended: exit code (None: killed at the deadline) and its output."""

    returncode: int | None
    elapsed_s: float
    stdout: str
    stderr: str


class CliProcess:
    """`python -m batch_ims ARGS` (or `program ARGS`) running in the background, output
    captured in `folder`."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        folder: Path,
        env: dict[str, str] | None = None,
        program: Sequence[str] = (sys.executable, "-m", "batch_ims"),
        cwd: Path | None = None,
    ):
        folder.mkdir(parents=True, exist_ok=True)
        self._out = folder / "cli.stdout"
        self._err = folder / "cli.stderr"
        with self._out.open("w") as out, self._err.open("w") as err:
            self.started = time.monotonic()
            self.process = subprocess.Popen(
                [*program, *args],
                env=env if env is not None else aksk_env(),
                cwd=cwd,
                stdout=out,
                stderr=err,
                text=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> Exited:
        """Wait up to `timeout` seconds; a process still running then is killed."""
        try:
            returncode: int | None = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            returncode = None
        return Exited(
            returncode=returncode,
            elapsed_s=time.monotonic() - self.started,
            stdout=self._out.read_text(encoding="utf-8"),
            stderr=self._err.read_text(encoding="utf-8"),
        )

    def kill(self) -> None:
        """SIGKILL this process (only it, by its own pid) and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def __enter__(self) -> CliProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def run_cli(
    args: Sequence[str], *, folder: Path, timeout: float, env: dict[str, str] | None = None
) -> Exited:
    """Run the CLI to the end, or kill it at `timeout` seconds (returncode None)."""
    with CliProcess(args, folder=folder, env=env) as proc:
        return proc.wait(timeout)


def poll_until(condition: Callable[[], bool], *, timeout: float) -> bool:
    """Poll `condition` every 10 ms until it holds (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail the test at the deadline."""
    if not poll_until(condition, timeout=timeout):
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def line_count(path: Path) -> int:
    """Complete lines in a file that may not exist yet."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0
