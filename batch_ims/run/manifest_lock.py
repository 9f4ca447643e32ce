"""One manifest, sent by one run at a time: an advisory `flock` on the manifest itself.

Two runs of one manifest with different journals would both PATCH every image. A run that
sends takes an exclusive `flock` on the manifest file for its whole length; a sharded run
(`--shard K/N`) takes a shared one, so the shards of one manifest run side by side, while an
unsharded run and any shard exclude each other. The lock needs no file of its own (a
manifest in a read-only folder is fine) and is dropped by the kernel when its holder dies.
Two runs of the same shard are not told apart: their journals are.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from batch_ims.errors import LockedError
from batch_ims.output.locking import lock_exclusive


@contextlib.contextmanager
def manifest_lock(path: Path, *, sharded: bool) -> Iterator[None]:
    """Hold the manifest's lock for the block; LockedError (exit 75) when another run does."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # read a moment ago; whatever happened since, the run has its rows
        yield
        return
    try:
        lock_exclusive(fd, shared=sharded)
    except OSError as exc:
        os.close(fd)
        raise LockedError(
            f"manifest {str(path)!r} is being sent by another batch-ims run"
            f"{'' if sharded else ' (or one of its shards)'}; wait for it to finish"
        ) from exc
    try:
        yield
    finally:
        os.close(fd)
