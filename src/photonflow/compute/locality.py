"""Data locality: which data server holds a chunk, and which Dask workers sit beside it.

A photonflow worker is named ``<data server URL>|<unique id>`` (see :mod:`photonflow.compute.worker`), so the map
from data server to workers is read from the worker names the Dask scheduler knows; no file is ever probed (PYME's
per-frame probing, compute.md §8 B8).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

__all__ = ["TAG_SEPARATOR", "chunk_server", "normalize_server", "worker_name", "workers_by_server"]

TAG_SEPARATOR = "|"


def normalize_server(url: str) -> str:
    """``http://host:port`` with ``localhost`` spelled ``127.0.0.1`` and no trailing slash."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    host = "127.0.0.1" if parts.hostname in ("localhost", None) else parts.hostname
    return f"{parts.scheme}://{host}:{parts.port or 80}"


def worker_name(dataserver: str | None, ident: str) -> str:
    """The Dask worker name carrying the data server a worker sits beside (``ident`` keeps names unique)."""
    return f"{normalize_server(dataserver) if dataserver else ''}{TAG_SEPARATOR}{ident}"


def workers_by_server(names: Mapping[str, str]) -> dict[str, list[str]]:
    """Data server URL → addresses of the workers beside it, from ``{worker address: worker name}``."""
    out: dict[str, list[str]] = {}
    for address, name in names.items():
        server, sep, _ = str(name).partition(TAG_SEPARATOR)
        if sep and server:
            out.setdefault(server, []).append(address)
    for addresses in out.values():
        addresses.sort()
    return out


def chunk_server(locations: Iterable[Sequence[str]]) -> str | None:
    """The data server holding most of a chunk's files (each file's locations as server URLs), or ``None``."""
    votes: Counter[str] = Counter()
    for urls in locations:
        for url in urls:
            votes[normalize_server(url)] += 1
    if not votes:
        return None
    return sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
