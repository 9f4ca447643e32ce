"""The tool's own errors. Anything a user can cause is one of these, never a traceback."""

from __future__ import annotations


class BatchImsError(Exception):
    """Base class: `str(error)` is the one line shown to the user."""


class UsageError(BatchImsError):
    """Bad options, bad job file, unreadable or malformed manifest: exit 2, nothing sent."""


class ManifestError(UsageError):
    """A manifest that cannot be read as a whole (as opposed to an invalid row)."""

    def __init__(
        self,
        path: str,
        problem: str,
        *,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        where = path
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.problem = problem
        self.row = row
        self.column = column


class LockedError(BatchImsError):
    """Another run holds the journal lock."""


class OutputWriteError(BatchImsError):
    """An output (report, journal, summary, undo manifest) could not be written: exit 74."""


class UnreachableError(BatchImsError):
    """An endpoint gave no answer at all (DNS failure, connection refused, timeout): exit 4."""


class AuthConfigError(UsageError):
    """Credentials are missing or inconsistent (detected before anything is sent)."""
