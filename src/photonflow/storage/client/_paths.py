"""Cluster paths and ``PYME-CLUSTER://`` URIs (reference/storage-protocol.md §5): pure string handling."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["ClusterURI", "format_uri", "normalize_dir", "normalize_path", "parse_uri", "quote_path", "split_parent"]

_SCHEMES = ("PYME-CLUSTER://", "pyme-cluster://")


@dataclass(frozen=True, slots=True)
class ClusterURI:
    """A parsed ``PYME-CLUSTER://<cluster>/<path>``; ``cluster == ""`` means every visible server."""

    cluster: str
    path: str

    def __str__(self) -> str:
        return format_uri(self.cluster, self.path)


def is_uri(text: str) -> bool:
    """Whether ``text`` starts with one of the two spellings PYME recognises."""
    return text.startswith(_SCHEMES)


def parse_uri(uri: str) -> ClusterURI:
    """Split ``PYME-CLUSTER://<cluster>/<path>`` (or lower-case ``pyme-cluster://``).

    Raises
    ------
    ValueError
        ``uri`` uses another scheme.
    """
    for scheme in _SCHEMES:
        if uri.startswith(scheme):
            cluster, _, path = uri[len(scheme) :].partition("/")
            return ClusterURI(cluster, normalize_path(path))
    raise ValueError(f"{uri!r} is not a cluster URI; write PYME-CLUSTER://<cluster>/<path>")


def format_uri(cluster: str, path: str) -> str:
    """The canonical URI of ``path`` on ``cluster``."""
    return f"PYME-CLUSTER://{cluster}/{normalize_path(path)}"


def normalize_path(path: str) -> str:
    """Cluster-relative path without leading or trailing ``/``; ``""`` is the root.

    ``.`` and empty components are dropped. ``..`` is refused rather than resolved, because on a server it would be
    silently clipped at the root and name a different file than the caller meant.

    Raises
    ------
    ValueError
        The path contains ``..``, a backslash or a NUL character.
    """
    if "\x00" in path or "\\" in path:
        raise ValueError(f"cluster path {path!r} contains a NUL or backslash; use '/'-separated names")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"cluster path {path!r} contains '..'; give a path relative to the cluster root")
    return "/".join(parts)


def normalize_dir(path: str) -> str:
    """Directory form used on the wire: ``""`` for the root, else ``"a/b/"``."""
    path = normalize_path(path)
    return f"{path}/" if path else ""


def split_parent(path: str) -> tuple[str, str]:
    """``"a/b/c"`` → ``("a/b", "c")``; the root's parent is the root."""
    path = normalize_path(path)
    parent, name = posixpath.split(path)
    return parent, name


def quote_path(path: str) -> str:
    """Percent-encode a cluster path (UTF-8) for a request target, keeping ``/``.

    Every client path (HTTP and raw pipelined) is encoded the same way, so a name is stored identically whichever
    way it was written (§8 C15).
    """
    return "/" + quote(path, safe="/")
