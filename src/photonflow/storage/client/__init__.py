"""The cluster client: one file tree over every data server of a cluster (reference/storage-protocol.md §4, §5)."""

from __future__ import annotations

from ._client import ClusterClient
from ._listing import DIRECTORY, SERIES, SERIES_COMPLETE, DirectoryListing, Entry, merge_listings, parse_listing
from ._paths import ClusterURI, format_uri, normalize_path, parse_uri
from ._ranges import RangeReader
from ._types import FileStat, ServerStatus

__all__ = [
    "DIRECTORY",
    "SERIES",
    "SERIES_COMPLETE",
    "ClusterClient",
    "ClusterURI",
    "DirectoryListing",
    "Entry",
    "FileStat",
    "RangeReader",
    "ServerStatus",
    "format_uri",
    "merge_listings",
    "normalize_path",
    "parse_listing",
    "parse_uri",
]
