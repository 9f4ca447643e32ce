"""How every output file of a run is opened: owned by one run, never through a link, whole.

- `check_output` refuses what must never be written to: a symbolic link, something that is
  not a regular file, a file owned by another user, and (without `overwrite`) an earlier
  run's file; and a file in a folder others could redirect (`check_folders`): a folder on
  its path that is a symbolic link another user owns (`sh/out -> /root-only`), or a folder
  anyone may write to without the sticky bit (anyone could put such a link there).
- `OutputFile` owns one final file (report, summary, metrics): an exclusive `flock` on a
  hidden lock file beside it (`.NAME.lock`) for the whole run, in every mode; the content
  goes to a temporary file in the same folder (`.NAME.PID.tmp`, created with `O_EXCL`,
  mode 0600, or the `mode` asked for: the metrics file is 0644 for node_exporter), which
  `commit` fsyncs and renames over the final name. Until then the
  earlier file, if any, is untouched; a killed run leaves it as it was.
- `open_live` opens a file written as the run goes (journal, undo manifest) with
  `O_NOFOLLOW`, creating a new one with `O_EXCL` and mode 0600, after `check_folders`.

A write that fails raises `OutputWriteError` (exit 74) naming the file and the OS error.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from pathlib import Path
from typing import IO, Any

from batch_ims.errors import LockedError, OutputWriteError, UsageError
from batch_ims.output.locking import lock_exclusive

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)  # 0: Windows


def write_error(label: str, path: Path, exc: OSError) -> OutputWriteError:
    """The one line for an output that cannot be written."""
    reason = exc.strerror or str(exc)
    return OutputWriteError(f"{label} {str(path)!r}: cannot write: {reason}")


def _refuse_stat(label: str, path: Path, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise UsageError(
            f"{label} {str(path)!r} is a symbolic link; batch-ims does not write through "
            "links: give the real path"
        )
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{label} {str(path)!r} is not a regular file")
    if info.st_uid != os.geteuid():
        raise UsageError(
            f"{label} {str(path)!r} belongs to another user (uid {info.st_uid}); "
            "batch-ims does not use files others own: remove it or choose another path"
        )


def check_folders(label: str, path: Path) -> None:
    """Refuse `path` when a folder on its way is a symbolic link owned by another user (root
    excepted), or a folder every user may write to without the sticky bit (as /tmp has):
    either lets another user send the file somewhere else. Folders still to be made end it."""
    folder = Path.cwd() / path.parent
    current = Path(folder.anchor)
    me = os.geteuid()
    for part in folder.parts[1:]:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise UsageError(f"{label} {str(path)!r}: {str(current)!r}: {exc.strerror}") from exc
        if stat.S_ISLNK(info.st_mode) and info.st_uid not in (0, me):
            raise UsageError(
                f"{label} {str(path)!r}: the folder {str(current)!r} is a symbolic link owned "
                f"by another user (uid {info.st_uid}); batch-ims does not write where another "
                "user points it: give the real path"
            )
        sticky = info.st_mode & stat.S_ISVTX
        if stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IWOTH and not sticky:
            raise UsageError(
                f"{label} {str(path)!r}: the folder {str(current)!r} is writable by every user "
                "and has no sticky bit, so anyone could redirect the file; use another folder "
                "(or chmod o-w / +t it)"
            )


def check_output(label: str, path: Path, *, overwrite: bool) -> bool:
    """Refuse a folder others could redirect, a link, a foreign or odd file, or (unless
    `overwrite`) any existing file at `path`; returns whether a file exists there."""
    check_folders(label, path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise UsageError(f"{label} {str(path)!r}: {exc.strerror}") from exc
    _refuse_stat(label, path, info)
    if not overwrite:
        raise UsageError(
            f"{label} {str(path)!r} already exists (an earlier run's?); batch-ims does not "
            "replace it unless told: give --overwrite, or a new name (e.g. with %H%M%S)"
        )
    return True


def lock(file: IO[str], label: str, path: Path) -> None:
    """An exclusive flock on a live file for the run (closing the file drops it)."""
    try:
        lock_exclusive(file.fileno())
    except OSError as exc:
        file.close()
        raise LockedError(
            f"{label} {str(path)!r} is being written by another batch-ims run; "
            "wait for it to finish or give this run its own path"
        ) from exc


def open_live(label: str, path: Path, *, mode: str) -> IO[str]:
    """Open a file written as the run goes (`mode` "a": append; "r": read), refusing
    links and other users' files; a new file is created with O_EXCL and mode 0600."""
    reading = mode == "r"
    flags = (os.O_RDONLY if reading else os.O_WRONLY | os.O_APPEND) | _NOFOLLOW
    check_folders(label, path)
    try:
        if not reading:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
                return open(fd, "a", encoding="utf-8", newline="")
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            _refuse_stat(label, path, os.lstat(path))
        if isinstance(exc, FileNotFoundError) and reading:
            raise
        raise UsageError(f"{label} {str(path)!r}: cannot open: {exc.strerror}") from exc
    try:
        _refuse_stat(label, path, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    if reading:
        return open(fd, encoding="utf-8", errors="replace", newline="")
    return open(fd, "a", encoding="utf-8", newline="")


class OutputFile:
    """One final output, locked from here to `release` and replaced whole by `commit`."""

    def __init__(self, label: str, path: Path, *, overwrite: bool, mode: int = 0o600) -> None:
        self.label = label
        self.path = path
        self._lock_path = path.with_name(f".{path.name}.lock")
        self._tmp_path = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._lock_fd: int | None = None
        self._tmp: IO[bytes] | None = None
        self.committed = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock()
            check_output(label, path, overwrite=overwrite)
            self._remove_stale_temporaries()
            fd = os.open(self._tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            self._tmp = open(fd, "wb")  # noqa: SIM115 (kept open until commit or discard)
            if mode != 0o600:
                os.fchmod(fd, mode)  # exactly `mode`, whatever the umask
        except OSError as exc:
            self.release()
            raise UsageError(f"{label} {str(path)!r}: cannot write: {exc.strerror}") from exc
        except BaseException:
            self.release()
            raise

    def _lock(self) -> None:
        """flock the lock file; retried when the holder removed it between open and lock."""
        while True:
            try:
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    _refuse_stat(self.label, self._lock_path, os.lstat(self._lock_path))
                raise
            try:
                _refuse_stat(self.label, self._lock_path, os.fstat(fd))
                lock_exclusive(fd)
            except BlockingIOError as exc:
                os.close(fd)
                raise LockedError(
                    f"{self.label} {str(self.path)!r} is being written by another batch-ims "
                    "run; wait for it to finish or give this run its own path"
                ) from exc
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.stat(self._lock_path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._lock_fd = fd
                return
            os.close(fd)

    def _remove_stale_temporaries(self) -> None:
        """Temporaries of this path left by a killed run (the lock says none is alive)."""
        prefix, uid = f".{self.path.name}.", os.geteuid()
        for entry in os.scandir(self.path.parent):
            name = entry.name
            pid = name[len(prefix) : -4]
            if name.startswith(prefix) and name.endswith(".tmp") and pid.isdigit():
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(info.st_mode) and info.st_uid == uid:
                        os.unlink(entry.path)

    @property
    def file(self) -> IO[bytes]:
        assert self._tmp is not None, "the output was committed or discarded"
        return self._tmp

    def text(self, *, encoding: str = "utf-8") -> io.TextIOWrapper:
        """A text view of the temporary file (detach it when done: closing is `commit`'s)."""
        return io.TextIOWrapper(self.file, encoding=encoding, newline="", write_through=True)

    def commit(self) -> None:
        """fsync the temporary file, rename it over the final name, fsync the folder."""
        tmp = self.file
        try:
            tmp.flush()
            os.fsync(tmp.fileno())
            tmp.close()
            self._tmp = None
            os.replace(self._tmp_path, self.path)
            self.committed = True
            dir_fd = os.open(self.path.parent, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise write_error(self.label, self.path, exc) from exc
        finally:
            self.release()

    def discard(self) -> None:
        """Drop the temporary file: the earlier file at the path, if any, stays as it was."""
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.close()
            self._tmp = None
        if not self.committed:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp_path)
        self.release()

    def release(self) -> None:
        if self._lock_fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self._lock_path)  # still holding the lock: see `_lock`
        os.close(self._lock_fd)
        self._lock_fd = None

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.discard()
