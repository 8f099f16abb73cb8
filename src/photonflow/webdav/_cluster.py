"""Cluster file access for the WebDAV gateway: the few operations a DAV provider needs, on :class:`ClusterClient`.

Reads are streamed in blocks with HTTP ``Range`` requests to a server holding the file (never fetched whole first),
falling over to the next holder when one does not answer (:meth:`ClusterClient.read_range`).
"""

from __future__ import annotations

from collections.abc import Sequence

from photonflow.errors import ConfigError, NotFoundError
from photonflow.storage.client import ClusterClient, DirectoryListing, FileStat, RangeReader, normalize_path

__all__ = ["ClusterFiles", "RangeReader"]


class ClusterFiles:
    """The operations a file-system front end needs, on top of a :class:`ClusterClient`.

    Parameters
    ----------
    client : ClusterClient
        The cluster (create it with ``listing_ttl_s=0`` so a directory made here is seen at once). Its token is
        the one sent to the data servers.
    token : str, optional
        The cluster token the caller configured; checked against the client's, so a gateway never runs with a
        token it did not mean.

    Raises
    ------
    ConfigError
        ``token`` is given and is not the client's.
    """

    def __init__(self, client: ClusterClient, *, token: str | None = None) -> None:
        if token is not None and token != client.token:
            raise ConfigError("ClusterFiles: token differs from the ClusterClient's; create the client with token=")
        self.client = client

    def close(self) -> None:
        """Nothing of its own to release (the client and its connections are the caller's)."""

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
        """Up to ``size`` bytes of ``path`` from ``offset`` asked of ``holders`` in turn (see ``read_range``)."""
        return self.client.read_range(normalize_path(path), offset, size, servers=holders)

    def open(self, path: str, stat: FileStat, *, block: int = 1 << 20) -> RangeReader:
        """A read-only, seekable file object over ``path`` that fetches ``block`` bytes at a time."""
        return RangeReader(self.client, stat, block=block)

    def last_modified(self, path: str, holders: Sequence[str]) -> float | None:
        """Modification time the first answering holder reports (``Last-Modified``), or ``None``."""
        return self.client.modified(normalize_path(path), servers=holders)

    def mkdir(self, path: str) -> None:
        """Create a real (empty) directory on one data server (raises :class:`AlreadyExistsError` if taken)."""
        self.client.mkdir(normalize_path(path))

    def put(self, path: str, data: bytes) -> None:
        """Create a new file (write-once; raises :class:`AlreadyExistsError` when the name is taken)."""
        self.client.put_file(normalize_path(path), data)
