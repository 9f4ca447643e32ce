"""Exclusive advisory locks (`flock`), where the system has them.

A run locks its journal and outputs so that a second run cannot write the same files.
Where `fcntl` does not exist (Windows, where manifest authors often check their sheet
before handing it to the cron machine), `plan` and `validate-job` still work: they take no
lock (they write at most a report a person asked for), while `run` is refused at once,
with one line (`require_locks`), before it reads or writes anything.
"""

from __future__ import annotations

from types import ModuleType

from batch_ims.errors import UsageError


def _fcntl() -> ModuleType | None:
    try:
        import fcntl
    except ImportError:
        return None
    return fcntl


def lock_exclusive(fd: int, *, shared: bool = False) -> None:
    """An exclusive lock on `fd` (with `shared`, one that only exclusive locks exclude),
    without waiting: OSError (BlockingIOError) when another process holds a conflicting
    one. Nothing where the system has no such locks."""
    fcntl = _fcntl()
    if fcntl is not None:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)


def require_locks() -> None:
    """Refuse a run where its files cannot be locked (UsageError: exit 2, one line)."""
    if _fcntl() is None:
        raise UsageError(
            "run needs file locks (the fcntl module), which this system does not have: "
            "run it on Linux or macOS; plan and validate-job work here"
        )
