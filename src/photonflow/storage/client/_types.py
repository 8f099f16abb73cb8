"""Result types returned by the client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._listing import DIRECTORY, SERIES, SERIES_COMPLETE

__all__ = ["FileStat", "ServerStatus"]


@dataclass(frozen=True, slots=True)
class FileStat:
    """What the merged listing says about one path.

    Attributes
    ----------
    path : str
        Cluster-relative path.
    type : int
        PYME flag bits (0x01 directory, 0x02 series, 0x04 series complete; 0 a plain file).
    size : int
        Bytes for a file; summed entry count for a directory.
    servers : tuple of str
        URLs of the servers holding it.
    """

    path: str
    type: int
    size: int
    servers: tuple[str, ...]

    @property
    def st_size(self) -> int:
        """``size``, under the name ``os.stat`` uses."""
        return self.size

    @property
    def is_dir(self) -> bool:
        """A directory (any flag bit set, as PYME clients test)."""
        return self.type > 0

    @property
    def is_series(self) -> bool:
        """An image series (``metadata.json`` present)."""
        return bool(self.type & SERIES)

    @property
    def is_complete(self) -> bool:
        """A finished series (``events.json`` present)."""
        return bool(self.type & SERIES_COMPLETE)

    @property
    def is_plain_dir(self) -> bool:
        """A directory that is not a series."""
        return bool(self.type & DIRECTORY) and not self.type & SERIES


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """One server's ``/__status`` (or why it has none).

    Attributes
    ----------
    url : str
        Server base URL.
    name : str
        Advertised name.
    responsive : bool
        It answered in time.
    free, total, used : int or None
        Disk bytes of the served root's file system.
    info : mapping
        The whole status JSON.
    error : str
        Why it is not responsive.
    """

    url: str
    name: str
    responsive: bool
    free: int | None = None
    total: int | None = None
    used: int | None = None
    info: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""
