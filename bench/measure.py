"""Child processes timed whole (wall time, peak RSS) and statistics over arrival times."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "ChildResult",
    "achieved_rate",
    "max_in_window",
    "median",
    "run_child",
]


@dataclass(frozen=True, slots=True)
class ChildResult:
    """One child process: wall and CPU seconds, its own peak RSS (KiB), what it printed."""

    argv: tuple[str, ...]
    wall_s: float
    cpu_s: float
    max_rss_kib: int
    returncode: int
    stdout: str
    stderr_tail: str

    def check(self, *, allowed: Sequence[int] = (0,)) -> ChildResult:
        """Self, or RuntimeError naming the command and the end of its stderr."""
        if self.returncode not in allowed:
            command = " ".join(self.argv[:3])
            raise RuntimeError(f"{command} ... exited {self.returncode}: {self.stderr_tail}")
        return self


def run_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 600.0,
    stderr_path: Path | None = None,
) -> ChildResult:
    """Run `argv` to its end; measure its wall time and peak RSS alone (os.wait4).

    stdout goes to a file; stderr through a pipe, as a scheduler captures a task's logs,
    that a thread drains into `stderr_path` (or a scratch file), so a chatty child pays
    for a pipe's writes and still cannot block.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as scratch:
        err_file = open(stderr_path, "w+b") if stderr_path is not None else scratch  # noqa: SIM115
        try:
            started = time.perf_counter()
            proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.PIPE, env=env)
            assert proc.stderr is not None
            drainer = threading.Thread(target=_drain, args=(proc.stderr.fileno(), err_file))
            drainer.start()
            killer = threading.Timer(timeout_s, _kill, args=(proc.pid,))
            killer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                killer.cancel()
            wall = time.perf_counter() - started
            drainer.join()
            proc.stderr.close()
            proc.returncode = os.waitstatus_to_exitcode(status)
            err_file.seek(0)
            tail = err_file.read()[-600:].decode("utf-8", "replace")
        finally:
            if err_file is not scratch:
                err_file.close()
        out.seek(0)
        stdout = out.read().decode("utf-8", "replace")
    cpu = usage.ru_utime + usage.ru_stime
    return ChildResult(tuple(argv), wall, cpu, usage.ru_maxrss, proc.returncode, stdout, tail)


def _drain(fd: int, into: IO[bytes]) -> None:
    while chunk := os.read(fd, 1 << 16):
        into.write(chunk)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def achieved_rate(arrivals: Sequence[float]) -> float:
    """Requests per second between the first and the last arrival: (n - 1) / span."""
    ordered = sorted(arrivals)
    if len(ordered) < 2 or ordered[-1] == ordered[0]:
        return 0.0
    return (len(ordered) - 1) / (ordered[-1] - ordered[0])


def max_in_window(arrivals: Sequence[float], *, width_s: float = 1.0) -> int:
    """The most arrivals any half-open window [t, t + width) holds, over every t.

    A window holding the most arrivals can always slide right until it starts at one,
    so only windows starting at an arrival are counted (two pointers, O(n log n)).
    """
    ordered = sorted(arrivals)
    best = 0
    end = 0
    for start, first in enumerate(ordered):
        end = max(end, start)
        while end < len(ordered) and ordered[end] < first + width_s:
            end += 1
        best = max(best, end - start)
    return best
