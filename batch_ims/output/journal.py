"""The journal: one JSON line per finished image, durable within a second, locked per run.

Each line is handed to the kernel (one `write`) as its image finishes, before the image
counts as done, and the file is fsynced at least once a second, so `kill -9` loses at most
the images in flight (a machine crash, at most the last second). An exclusive
`flock` on the journal file keeps a second run off it; the kernel drops the lock when
its holder dies, so a stale lock from a dead process is taken over by itself. The journal
is never opened through a symbolic link, a new one is created with mode 0600, and one owned
by another user is refused (for writing and for `--resume`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import IO

from batch_ims.errors import LockedError
from batch_ims.logsetup import redact_text
from batch_ims.models import Outcome, Status
from batch_ims.output.files import open_live
from batch_ims.output.locking import lock_exclusive

_encode = json.JSONEncoder(ensure_ascii=False).encode


class Journal:
    """One JSON line per finished image, each naming its target: the outcome's own in a run
    over several targets, else the run's (`target`)."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float],
        target: str,
        sync_every_s: float = 1.0,
    ):
        self.path = path
        self._target = target
        self._clock = clock
        self._sync_every_s = sync_every_s
        self._last_sync = clock()
        self.label = "journal"
        self._file: IO[str] = open_live("journal", path, mode="a")
        try:
            lock_exclusive(self._file.fileno())
        except OSError as exc:
            self._file.close()
            raise LockedError(
                f"journal {str(path)!r} is locked by another batch-ims run; "
                "wait for it to finish or give this run its own --journal"
            ) from exc
        self._fd = self._file.fileno()
        self._size_before = os.fstat(self._fd).st_size
        self._recorded = False
        self._write_owner()

    def _write_owner(self) -> None:
        owner = {
            "event": "run.started",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "target": self._target,
        }
        self._file.write(json.dumps(owner) + "\n")
        self._file.flush()

    def write(self, outcome: Outcome) -> None:
        status = outcome.status
        if status is Status.ABORTED or status is Status.INVALID or status is Status.DRIFTED:
            return
        holds = outcome.holds or status is Status.SUCCEEDED
        http_status = outcome.http_status
        line = (  # what json.dumps would give, built from texts at hand
            f'{{"image_id": {_encode(redact_text(outcome.image_id))}, '
            f'"digest": "{outcome.digest()}", '
            f'"status": "{status.value}", "holds": {"true" if holds else "false"}, '
            f'"http_status": {"null" if http_status is None else http_status}, '
            f'"at": "{outcome.finished_at}", '
            f'"target": {_encode(outcome.target or self._target)}}}\n'
        )
        self._recorded = True
        _write_all(self._fd, line.encode("utf-8"))  # in the kernel before the image is done
        if self._clock() - self._last_sync >= self._sync_every_s:
            self.sync()

    def sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._last_sync = self._clock()

    def flush(self) -> None:
        self.sync()

    def close(self) -> None:
        if self._file.closed:
            return
        try:
            self.sync()
        finally:
            self.discard()

    def withdraw(self) -> None:
        """The run was refused before recording anything: leave the journal as it was (a
        new one removed, an earlier one without this run's owner line), then close."""
        if self._file.closed:
            return
        if not self._recorded:
            with contextlib.suppress(OSError):  # still holding the lock
                if self._size_before == 0:
                    os.unlink(self.path)
                else:
                    os.ftruncate(self._fd, self._size_before)
        self.discard()

    def discard(self) -> None:
        """Close without a last sync (the file could not be written)."""
        if self._file.closed:
            return
        with contextlib.suppress(OSError):
            self._file.close()  # closing drops the lock


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def read_succeeded(path: Path, target: str) -> dict[str, str]:
    """image_id -> ops digest of its latest success at `target` in the journal (--resume).

    Done means `holds`: the image succeeded, or was found already holding the values
    (`--skip-unchanged`), or was skipped because an earlier journal said so. Other skips
    (dry run, --retry-failed-from) say nothing about the image. A later `failed` line
    cancels an earlier success. Lines of another target say nothing about this one (lines
    without a target, from journals written before targets were recorded, count for any).
    A torn last line (the process was killed mid-write) and unrelated lines are ignored.
    """
    done: dict[str, str] = {}
    try:
        handle = open_live("journal", path, mode="r")
    except FileNotFoundError:
        return done
    with handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict) or "image_id" not in entry:
                continue
            if entry.get("target", target) != target:
                continue
            image_id = str(entry["image_id"])
            if entry.get("holds", entry.get("status") == Status.SUCCEEDED.value):
                done[image_id] = str(entry.get("digest", ""))
            elif entry.get("status") == Status.FAILED.value:
                done.pop(image_id, None)
    return done
