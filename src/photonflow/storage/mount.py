"""``photonflow mount``: the cluster's merged namespace as a read-only FUSE file system.

Files are read in blocks with HTTP ranges from a server holding them (falling over to another holder), so opening a
large file costs nothing until it is read. Every write-like operation answers ``EROFS``.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from typing import Any, Protocol

from fuse import FUSE, FuseOSError, Operations

from photonflow.errors import NotFoundError, ServerUnavailableError, StorageError
from photonflow.storage.client import ClusterClient, FileStat, RangeReader

__all__ = ["ClusterFS", "HasClient", "mount"]

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


class HasClient(Protocol):
    """Anything that carries a :class:`ClusterClient` as ``.client`` (e.g. ``photonflow.webdav.ClusterFiles``)."""

    @property
    def client(self) -> ClusterClient: ...


class ClusterFS(Operations):
    """FUSE operations over a :class:`ClusterClient`, read-only.

    Parameters
    ----------
    client : ClusterClient
        The cluster.
    block : int
        Bytes fetched per request when reading.
    """

    def __init__(self, client: ClusterClient, *, block: int = 4 << 20) -> None:
        self._client = client
        self._block = block
        self._handles: dict[int, tuple[threading.Lock, RangeReader]] = {}
        self._next = 1
        self._lock = threading.Lock()
        self._started = time.time()

    def _stat(self, path: str) -> FileStat:
        try:
            return self._client.stat(path)
        except NotFoundError as exc:
            raise FuseOSError(errno.ENOENT) from exc
        except ServerUnavailableError as exc:
            raise FuseOSError(errno.EIO) from exc
        except ValueError as exc:
            raise FuseOSError(errno.EINVAL) from exc

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        base = {"st_uid": os.getuid(), "st_gid": os.getgid(), "st_mtime": self._started,
                "st_ctime": self._started, "st_atime": self._started}
        if path == "/":
            return {**base, "st_mode": stat.S_IFDIR | 0o555, "st_nlink": 2}
        found = self._stat(path)
        if found.is_dir:
            return {**base, "st_mode": stat.S_IFDIR | 0o555, "st_nlink": 2}
        return {**base, "st_mode": stat.S_IFREG | 0o444, "st_nlink": 1, "st_size": max(found.size, 0)}

    def readdir(self, path: str, fh: int) -> list[str]:
        try:
            listing = self._client.listdirectory(path)
        except NotFoundError as exc:
            raise FuseOSError(errno.ENOENT) from exc
        except StorageError as exc:
            raise FuseOSError(errno.EIO) from exc
        return [".", "..", *sorted(name.rstrip("/") for name in listing)]

    def open(self, path: str, flags: int) -> int:
        if flags & _WRITE_FLAGS:
            raise FuseOSError(errno.EROFS)
        found = self._stat(path)
        if found.is_dir:
            raise FuseOSError(errno.EISDIR)
        reader = RangeReader(self._client, found, block=self._block)
        with self._lock:
            fh, self._next = self._next, self._next + 1
            self._handles[fh] = (threading.Lock(), reader)
        return fh

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        entry = self._handles.get(fh)
        if entry is None:
            raise FuseOSError(errno.EBADF)
        lock, reader = entry
        try:
            with lock:
                reader.seek(offset)
                return reader.read(size)
        except StorageError as exc:
            raise FuseOSError(errno.EIO) from exc

    def release(self, path: str, fh: int) -> int:
        with self._lock:
            self._handles.pop(fh, None)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        statuses = [s for s in self._client.status() if s.responsive]
        total = sum(s.total or 0 for s in statuses)
        free = sum(s.free or 0 for s in statuses)
        bsize = 4096
        return {"f_bsize": bsize, "f_frsize": bsize, "f_blocks": total // bsize, "f_bfree": free // bsize,
                "f_bavail": free // bsize, "f_namemax": 255}

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise FuseOSError(errno.EROFS)

    create = mkdir = rmdir = unlink = rename = write = truncate = chmod = chown = symlink = link = _read_only
    setxattr = removexattr = utimens = mknod = _read_only


def mount(
    cluster: ClusterClient | HasClient, mountpoint: str, *, foreground: bool = True, allow_other: bool = False
) -> None:
    """Mount the cluster read-only at ``mountpoint``; returns when it is unmounted (``fusermount3 -u``).

    Parameters
    ----------
    cluster : ClusterClient or HasClient
        The cluster, or an object carrying its client (``photonflow mount`` passes the gateway's ``ClusterFiles``).
    mountpoint : str
        An empty directory.
    foreground : bool
        Block until unmounted.
    allow_other : bool
        Let other users read the mount.
    """
    client = cluster if isinstance(cluster, ClusterClient) else cluster.client
    FUSE(ClusterFS(client), mountpoint, foreground=foreground, ro=True, nothreads=False, allow_other=allow_other,
         fsname="photonflow", subtype="photonflow")
