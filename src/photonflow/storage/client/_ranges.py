"""Ranged reads of cluster files: the ``Range`` header, the answer's bytes, and a seekable block reader."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from ._types import FileStat

if TYPE_CHECKING:
    from ._client import ClusterClient

__all__ = ["RangeReader", "range_header", "slice_of_answer"]


def range_header(offset: int, size: int) -> str:
    """The ``Range`` header value asking for ``size`` bytes from ``offset``."""
    return f"bytes={offset}-{offset + size - 1}"


def slice_of_answer(status: int, body: bytes, *, offset: int, size: int) -> bytes:
    """The requested bytes out of a 206, 200 (a server without range support sends the whole file) or 416 answer."""
    if status == 206:
        return body
    if status == 200:
        return body[offset : offset + size]
    if status == 416:  # the range starts at or beyond the end
        return b""
    raise ValueError(f"HTTP {status} carries no bytes of a ranged read")


class RangeReader(io.RawIOBase):
    """Seekable, read-only view of one cluster file, fetched ``block`` bytes at a time from its holders.

    One block is kept, so the small reads WSGI servers and FUSE make cost one request per block, not per read.
    Make one with :meth:`ClusterClient.open`.

    Parameters
    ----------
    client : ClusterClient
        The cluster.
    stat : FileStat
        The file (its path, size and holders, tried in order).
    block : int
        Bytes fetched per request.
    """

    def __init__(self, client: ClusterClient, stat: FileStat, *, block: int = 1 << 20) -> None:
        super().__init__()
        if block < 1:
            raise ValueError(f"block must be at least 1 byte, got {block}")
        self._client = client
        self._path = stat.path
        self._holders = stat.servers
        self._size = stat.size
        self._block = block
        self._pos = 0
        self._buf_start = 0
        self._buf = b""

    @property
    def size(self) -> int:
        """Length of the file in bytes (as listed when it was opened)."""
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._pos
        size = min(size, max(0, self._size - self._pos))
        if size == 0:
            return b""
        inside = self._pos - self._buf_start
        if not 0 <= inside < len(self._buf):
            self._buf = self._client.read_range(self._path, self._pos, max(size, self._block), servers=self._holders)
            self._buf_start, inside = self._pos, 0
        data = self._buf[inside : inside + size]
        self._pos += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)
