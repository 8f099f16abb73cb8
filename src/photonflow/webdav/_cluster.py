"""Cluster file access for the WebDAV gateway and the FUSE mount: metadata, ranged reads, mkdir, write-once put.

Reads are streamed in blocks with HTTP ``Range`` requests to a server holding the file (never fetched whole first),
falling over to the next holder when one does not answer.
"""

from __future__ import annotations

import email.utils
import io
import threading
from collections.abc import Sequence
from urllib.parse import quote

from photonflow.errors import AlreadyExistsError, NotFoundError, ServerUnavailableError
from photonflow.storage.client import ClusterClient, DirectoryListing, FileStat, normalize_path
from photonflow.storage.client._http import ServerConnection, error_for_status

__all__ = ["ClusterFiles", "RangeReader"]


class ClusterFiles:
    """The operations a file-system front end needs, on top of a :class:`ClusterClient`.

    Parameters
    ----------
    client : ClusterClient
        The cluster (create it with ``listing_ttl_s=0`` so a directory made here is seen at once).
    token : str, optional
        Cluster token sent to the data servers.
    timeout_s : float
        Socket timeout of each request.
    """

    def __init__(self, client: ClusterClient, *, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.client = client
        self._token = token
        self._timeout = timeout_s
        self._connections: dict[str, ServerConnection] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connections to the data servers (the client is the caller's)."""
        with self._lock:
            conns, self._connections = list(self._connections.values()), {}
        for conn in conns:
            conn.close()

    def _conn(self, url: str) -> ServerConnection:
        with self._lock:
            conn = self._connections.get(url)
            if conn is None:
                conn = self._connections[url] = ServerConnection(url, token=self._token, pool_size=8)
            return conn

    def stat(self, path: str) -> FileStat | None:
        """Type, size and holders of ``path``; ``None`` when it does not exist."""
        try:
            return self.client.stat(normalize_path(path))
        except NotFoundError:
            return None

    def listdir(self, path: str) -> DirectoryListing:
        """The merged listing of a directory (raises :class:`NotFoundError`)."""
        return self.client.listdirectory(normalize_path(path))

    def read(self, path: str, offset: int, size: int, holders: Sequence[str]) -> bytes:
        """Up to ``size`` bytes of ``path`` from ``offset`` (fewer only at the end of the file).

        Raises
        ------
        NotFoundError
            No holder has the file.
        ServerUnavailableError
            No holder answered.
        """
        if size <= 0:
            return b""
        path = normalize_path(path)
        target = "/" + quote(path)
        headers = {"Range": f"bytes={offset}-{offset + size - 1}"}
        failures: list[str] = []
        for url in holders:
            try:
                response = self._conn(url).request("GET", target, headers=headers, timeout=self._timeout, path=path)
            except ServerUnavailableError as exc:
                failures.append(str(exc))
                continue
            if response.status == 206:
                return response.body
            if response.status == 200:  # a server without range support sends the whole file
                return response.body[offset : offset + size]
            if response.status == 416:
                return b""
            if response.status != 404:
                raise error_for_status(response.status, server=url, path=path, reason=response.reason)
        if failures:
            raise ServerUnavailableError(f"no holder of /{path} answered: {'; '.join(failures)}")
        raise NotFoundError(f"/{path} not found on its holders {', '.join(holders)}")

    def open(self, path: str, stat: FileStat, *, block: int = 1 << 20) -> RangeReader:
        """A read-only, seekable file object over ``path`` that fetches ``block`` bytes at a time."""
        return RangeReader(self, normalize_path(path), stat, block=block)

    def last_modified(self, path: str, holders: Sequence[str]) -> float | None:
        """Modification time the first answering holder reports (``Last-Modified``), or ``None``."""
        path = normalize_path(path)
        for url in holders:
            try:
                response = self._conn(url).request("HEAD", "/" + quote(path), timeout=self._timeout, path=path)
            except ServerUnavailableError:
                continue
            stamp = response.headers.get("last-modified")
            if response.status == 200 and stamp:
                parsed = email.utils.parsedate_to_datetime(stamp)
                return parsed.timestamp()
        return None

    def mkdir(self, path: str) -> None:
        """Create a real (empty) directory on one data server.

        Raises
        ------
        AlreadyExistsError
            Something of that name exists.
        """
        path = normalize_path(path)
        if self.stat(path) is not None:
            raise AlreadyExistsError(f"/{path} already exists")
        errors: list[str] = []
        for server in self.client.servers():
            try:
                response = self._conn(server.url).request(
                    "PUT", "/" + quote(path) + "/", body=b"", timeout=self._timeout, path=path
                )
            except ServerUnavailableError as exc:
                errors.append(str(exc))
                continue
            if response.status != 200:
                raise error_for_status(response.status, server=server.url, path=path, reason=response.reason)
            return
        raise ServerUnavailableError(f"no data server could create /{path}/: {'; '.join(errors)}")

    def put(self, path: str, data: bytes) -> None:
        """Create a new file (write-once; raises :class:`AlreadyExistsError` when the name is taken)."""
        self.client.put_file(normalize_path(path), data)


class RangeReader(io.RawIOBase):
    """Seekable read-only view of one cluster file, fetched ``block`` bytes at a time from its holders.

    One block is kept, so the small reads WSGI servers and FUSE make cost one request per block, not per read.
    """

    def __init__(self, files: ClusterFiles, path: str, stat: FileStat, *, block: int) -> None:
        super().__init__()
        self._files = files
        self._path = path
        self._holders = stat.servers
        self._size = stat.size
        self._block = block
        self._pos = 0
        self._buf_start = 0
        self._buf = b""

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

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._pos
        size = min(size, max(0, self._size - self._pos))
        if size == 0:
            return b""
        inside = self._pos - self._buf_start
        if not 0 <= inside < len(self._buf):
            self._buf = self._files.read(self._path, self._pos, max(size, self._block), self._holders)
            self._buf_start, inside = self._pos, 0
        data = self._buf[inside : inside + size]
        self._pos += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)
