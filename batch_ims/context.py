"""The process environment a command runs in: variables, streams, terminal or not.

One object passed in, so tests can swap it.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True, slots=True)
class Environment:
    """What the run needs from the process: variables, streams, terminal or not."""

    env: dict[str, str]
    stdout: TextIO
    stderr: TextIO
    stderr_is_terminal: bool
    argv: tuple[str, ...] = ()  # the command line, to print the command that resumes a run
    # asks the person at the terminal a yes/no question; None off a terminal: never ask
    confirm: Callable[[str], bool] | None = None


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def process_environment(
    env: dict[str, str],
    argv: tuple[str, ...] = (),
    confirm: Callable[[str], bool] | None = None,
) -> Environment:
    """The process's own streams; `confirm` is kept only when stdin and stderr are terminals."""
    terminal = _is_terminal(sys.stderr)
    asks = confirm if terminal and _is_terminal(sys.stdin) else None
    return Environment(
        env=env,
        stdout=sys.stdout,
        stderr=sys.stderr,
        stderr_is_terminal=terminal,
        argv=argv,
        confirm=asks,
    )


def stdout_gone(stream: TextIO) -> bool:
    """Whether `stream`'s reader went away (a broken pipe: `| head` exited). If so, the
    stream is pointed at the null device, so that what it still holds, and the
    interpreter's last flush, vanish quietly instead of raising at exit."""
    try:
        stream.flush()
    except BrokenPipeError:
        pass
    except (OSError, ValueError):
        return False
    else:
        if not _reader_gone(stream):
            return False
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, stream.fileno())
        finally:
            os.close(null)
    return True


def _reader_gone(stream: TextIO) -> bool:
    """A pipe whose reading end is closed polls as an error (flushing an emptied stream
    says nothing: the bytes that met the broken pipe are dropped)."""
    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        events = poller.poll(0)
    except (OSError, ValueError, AttributeError):  # no descriptor, or no poll (Windows)
        return False
    return any(event & select.POLLERR for _, event in events)


def invocation(argv0: str, executable: str = sys.executable) -> tuple[str, ...]:
    """The words that run this program again as it was run: `python -m batch_ims` when run as
    a module, the program's absolute path when run by a path, its name when found on PATH."""
    if os.path.basename(argv0) == "__main__.py":  # `python -m batch_ims`
        return (executable, "-m", "batch_ims")
    if os.sep in argv0 or (os.altsep and os.altsep in argv0):
        return (os.path.abspath(argv0),)
    return (argv0 or "batch-ims",)
