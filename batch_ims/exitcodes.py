"""Process exit codes: defined once, documented in the README."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # every image succeeded or was skipped
    SOME_FAILED = 1  # finished, but some image failed or some row was invalid
    USAGE = 2  # bad options or unreadable manifest: nothing sent
    ABORTED = 3  # stopped early: failure threshold or fatal authentication error
    UNREACHABLE = 4  # stopped early: the endpoint could not be reached at all
    INTERNAL = 70  # a bug in batch-ims (EX_SOFTWARE): please report it
    OUTPUT_FAILED = 74  # an output could not be written (EX_IOERR): the run stopped
    LOCKED = 75  # another run holds the journal or an output (EX_TEMPFAIL: try again later)
    SIGINT = 130
    BROKEN_PIPE = 141  # stdout's reader went away (`plan | head`): 128 + SIGPIPE, quietly
    SIGTERM = 143
