"""The cluster file system: data server, client, discovery (PYME-compatible HTTP protocol).

Client API::

    from photonflow.storage import ClusterClient
    with ClusterClient("lab") as client:
        client.put_file("run1/a.txt", b"...")
"""

from __future__ import annotations

from photonflow.storage.client import (
    ClusterClient,
    ClusterURI,
    DirectoryListing,
    Entry,
    FileStat,
    RangeReader,
    ServerStatus,
    format_uri,
    parse_uri,
)
from photonflow.storage.discovery import ServerInfo, advertise, find_servers
from photonflow.storage.streamer import ServerCounters, Streamer, StreamerStats

__all__ = [
    "ClusterClient",
    "ClusterURI",
    "DirectoryListing",
    "Entry",
    "FileStat",
    "RangeReader",
    "ServerCounters",
    "ServerInfo",
    "ServerStatus",
    "Streamer",
    "StreamerStats",
    "advertise",
    "find_servers",
    "format_uri",
    "parse_uri",
]
