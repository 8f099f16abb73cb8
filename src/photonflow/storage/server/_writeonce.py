"""Atomic, exclusive write-once file creation (fixes reference §8 S1).

The body is streamed into an anonymous ``O_TMPFILE`` inode in the server's work directory (same file system as the
root, hidden from listings), optionally fsynced, made read-only, then published with ``linkat`` — which fails with
``EEXIST`` if the name is taken, so exactly one of several concurrent writers wins and no reader ever sees a partial
file. An anonymous inode vanishes with its descriptor, so a crash or a vanished client leaves nothing behind. Where
the file system lacks ``O_TMPFILE`` a named temporary file is used instead; orphans of those are removed when the
server next starts.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import threading
from collections.abc import Iterable
from typing import Protocol

__all__ = ["TempFile", "WorkDir", "fsync_path"]


class _FdSource(Protocol):
    def splice_to(self, fd: int) -> bool: ...


class WorkDir:
    """The server's scratch directory for temporary files.

    Parameters
    ----------
    path : str
        Absolute path of the directory (created if missing); it must be on the same file system as the root.
    anonymous : bool, optional
        Use ``O_TMPFILE`` inodes; default: whenever the file system supports them.
    """

    def __init__(self, path: str, *, anonymous: bool | None = None) -> None:
        self.path = path
        os.makedirs(path, exist_ok=True)
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._prefix = f"{os.getpid()}-"
        self._anonymous = _supports_tmpfile(path) if anonymous is None else anonymous
        # Kept open: every publication of an anonymous inode links through /proc/self/fd (see _link_fd).
        self._proc_fd = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if self._anonymous else -1

    def close(self) -> None:
        """Release the directory handle (temporary files still being written keep working)."""
        if self._proc_fd >= 0:
            os.close(self._proc_fd)
            self._proc_fd = -1

    def remove_orphans(self) -> int:
        """Delete temporary files left by processes that no longer run; return how many were removed."""
        removed = 0
        for name in os.listdir(self.path):
            pid_text = name.partition("-")[0]
            if pid_text.isdigit() and int(pid_text) != os.getpid() and _alive(int(pid_text)):
                continue
            target = os.path.join(self.path, name)
            with contextlib.suppress(OSError):
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                else:
                    os.unlink(target)
                removed += 1
        return removed

    def new_temp(self, *, fsync: bool) -> TempFile:
        """Open a fresh temporary file for writing."""
        if self._anonymous:
            return TempFile(self.path, fsync=fsync, proc_fd=self._proc_fd)
        with self._lock:
            n = next(self._counter)
        return TempFile(os.path.join(self.path, f"{self._prefix}{n}"), fsync=fsync)

    def remove_own(self) -> None:
        """Delete this process's temporary files (at shutdown)."""
        for name in os.listdir(self.path):
            if name.startswith(self._prefix):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.path, name))


def _supports_tmpfile(directory: str) -> bool:
    try:
        fd = os.open(directory, os.O_WRONLY | os.O_TMPFILE | os.O_CLOEXEC, 0o644)
    except (OSError, AttributeError):
        return False
    os.close(fd)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TempFile:
    """A temporary file being filled; :meth:`publish` links it to its final name, :meth:`discard` drops it."""

    def __init__(self, path: str, *, fsync: bool, proc_fd: int | None = None) -> None:
        self.path = path
        self.size = 0
        self._fsync = fsync
        self._proc_fd = proc_fd
        self._anonymous = proc_fd is not None
        flags = os.O_TMPFILE if self._anonymous else os.O_CREAT | os.O_EXCL
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CLOEXEC | flags, 0o644)

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``."""
        assert self._fd is not None
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
            self.size += n

    def splice_from(self, source: _FdSource) -> bool:
        """Let ``source`` move its bytes straight into this file; ``False`` if it cannot (then use :meth:`write`)."""
        assert self._fd is not None
        if not source.splice_to(self._fd):
            return False
        self.size = os.fstat(self._fd).st_size
        return True

    def write_all(self, pieces: Iterable[bytes | memoryview]) -> None:
        """Append every piece."""
        for piece in pieces:
            self.write(piece)

    def publish(self, final: str) -> None:
        """Make the content durable (if configured), read-only, and visible at ``final``.

        Raises
        ------
        FileExistsError
            ``final`` exists (another writer won); the temporary file is discarded.
        """
        assert self._fd is not None
        try:
            os.fchmod(self._fd, 0o444)
            if self._fsync:
                os.fsync(self._fd)
            if self._proc_fd is not None:
                # linkat(proc_fd, "N", AT_FDCWD, final, AT_SYMLINK_FOLLOW) names an O_TMPFILE inode without
                # CAP_DAC_READ_SEARCH; os.link only calls linkat (not link) when a dir_fd is given.
                os.link(str(self._fd), final, src_dir_fd=self._proc_fd, follow_symlinks=True)
            else:
                os.close(self._fd)
                self._fd = None
                os.link(self.path, final)
            if self._fsync:
                fsync_path(os.path.dirname(final))
        finally:
            self.discard()

    def discard(self) -> None:
        """Close and delete the temporary file (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._anonymous:
            return
        try:
            os.unlink(self.path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise

    def __enter__(self) -> TempFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


def fsync_path(path: str) -> None:
    """Flush a file or directory, named by path, to disk (a directory: so a new entry in it survives a crash)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
