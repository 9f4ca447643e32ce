"""The process environment a command runs in: variables, streams, terminal or not.

One object passed in, so tests can swap it.
"""

from __future__ import annotations

import sys
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


def process_environment(env: dict[str, str], argv: tuple[str, ...] = ()) -> Environment:
    try:
        terminal = sys.stderr.isatty()
    except (AttributeError, ValueError):
        terminal = False
    return Environment(
        env=env, stdout=sys.stdout, stderr=sys.stderr, stderr_is_terminal=terminal, argv=argv
    )
