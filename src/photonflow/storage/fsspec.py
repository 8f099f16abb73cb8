"""An fsspec file system for ``pyme-cluster://<cluster>/<path>`` URIs (storage-protocol §5).

Registered under both spellings PYME recognises, ``pyme-cluster`` and ``PYME-CLUSTER`` (entry points
``fsspec.specs`` in ``pyproject.toml``), so pandas, zarr and dask read cluster files directly::

    import pandas as pd
    df = pd.read_csv("pyme-cluster://lab/run1/table.csv")
    df = pd.read_csv("pyme-cluster://lab/run1/table.csv", storage_options={"servers": ["http://node1:15348"]})

The cluster is write-once: new files can be written (:meth:`ClusterFileSystem.pipe_file`, ``put``, ``open(..., "wb")``)
but never overwritten, appended to or deleted. PYME servers have no byte ranges, so a read fetches the whole file
(ranges are cut out on this side); directories exist implicitly.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from fsspec.spec import AbstractFileSystem

from photonflow.errors import AlreadyExistsError
from photonflow.storage.client import ClusterClient, normalize_path

__all__ = ["ClusterFileSystem"]

_PROTOCOLS = ("pyme-cluster", "PYME-CLUSTER")


class _NewClusterFile(io.BytesIO):
    """A file being written: its bytes are PUT as one new cluster file when it is closed."""

    def __init__(self, fs: ClusterFileSystem, path: str) -> None:
        super().__init__()
        self._fs = fs
        self._path = path

    def close(self) -> None:
        if not self.closed:
            self._fs.pipe_file(self._path, self.getvalue())
        super().close()


class ClusterFileSystem(AbstractFileSystem):
    """fsspec view of one cluster. Paths are cluster-relative (``run1/table.csv``); URIs name the cluster.

    Parameters
    ----------
    cluster : str
        Cluster name (the URI's host part; ``""`` = every visible server).
    servers : sequence of str, optional
        Static server URLs besides discovery.
    token : str, optional
        Cluster token.
    **client_options
        Other :class:`~photonflow.storage.ClusterClient` keyword arguments (``registry``, ``zeroconf``, ...).
        Everything must be picklable: the file system travels to dask workers and re-creates its client there.
    """

    protocol = _PROTOCOLS
    root_marker = ""

    def __init__(
        self,
        cluster: str = "",
        *,
        servers: Sequence[str] | None = None,
        token: str | None = None,
        **client_options: Any,
    ) -> None:
        fs_options = {k: client_options.pop(k) for k in list(client_options) if k in _FS_OPTIONS}
        super().__init__(**fs_options)
        self.cluster = cluster
        self.client = ClusterClient(cluster, servers, token=token, **client_options)

    # ------------------------------------------------------------------------------------------------ paths

    @classmethod
    def _strip_protocol(cls, path: str | list[str]) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        for scheme in _PROTOCOLS:
            prefix = f"{scheme}://"
            if path.startswith(prefix):
                path = path[len(prefix) :].partition("/")[2]
                break
        return normalize_path(path)

    @staticmethod
    def _get_kwargs_from_urls(path: str) -> dict[str, Any]:
        for scheme in _PROTOCOLS:
            prefix = f"{scheme}://"
            if path.startswith(prefix):
                return {"cluster": path[len(prefix) :].partition("/")[0]}
        return {}

    def unstrip_protocol(self, name: str) -> str:
        """The full URI of a cluster path."""
        return f"pyme-cluster://{self.cluster}/{self._strip_protocol(name)}"

    # ------------------------------------------------------------------------------------------------ reading

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """Entries of a directory (or the file itself): dicts with ``name``, ``size``, ``type``, or names."""
        path = self._strip_protocol(path)
        if path:
            stat = self.client.stat(path)
            if not stat.is_dir:
                entry = {"name": path, "size": stat.size, "type": "file", "flags": stat.type}
                return [entry] if detail else [path]
        listing = self.client.listdirectory(path)
        entries = []
        for name, item in sorted(listing.items()):
            is_dir = name.endswith("/") or item.is_dir
            full = f"{path}/{name.rstrip('/')}" if path else name.rstrip("/")
            entries.append({"name": full, "size": item.size, "type": "directory" if is_dir else "file",
                            "flags": item.type})
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """``name``, ``size``, ``type`` (``"file"``/``"directory"``) and PYME's listing ``flags``.

        Raises
        ------
        FileNotFoundError
            Nothing of that name on the cluster.
        """
        path = self._strip_protocol(path)
        if not path:
            return {"name": "", "size": 0, "type": "directory", "flags": 1}
        stat = self.client.stat(path)
        return {"name": path, "size": stat.size, "type": "directory" if stat.is_dir else "file", "flags": stat.type}

    def exists(self, path: str, **kwargs: Any) -> bool:
        """Whether a file or directory of that name exists."""
        path = self._strip_protocol(path)
        return not path or self.client.exists(path)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        """The file's bytes, or bytes ``start:end`` of it (Python slice semantics, negatives from the end)."""
        data = self.client.get_file(self._strip_protocol(path))
        return data if start is None and end is None else data[start:end]

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> io.BytesIO:
        path = self._strip_protocol(path)
        if mode == "rb":
            return io.BytesIO(self.cat_file(path))
        if mode in ("wb", "xb"):
            if self.client.exists(path):
                raise AlreadyExistsError(f"/{path} exists; cluster files are write-once, choose a new name")
            return _NewClusterFile(self, path)
        raise ValueError(f"mode {mode!r} is not supported: cluster files are read ('rb') or created once ('wb')")

    # ------------------------------------------------------------------------------------------------ writing

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        """Create a new file holding ``value``.

        Raises
        ------
        AlreadyExistsError
            The file exists (write-once: it is never overwritten, whatever ``mode`` says).
        """
        self.client.put_file(self._strip_protocol(path), bytes(value))

    def put_file(self, lpath: str, rpath: str, callback: Any = None, mode: str = "overwrite", **kwargs: Any) -> None:
        """Upload the local file ``lpath`` as the new cluster file ``rpath``."""
        with open(lpath, "rb") as f:
            self.pipe_file(rpath, f.read())

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Directories exist implicitly (created by the first file written in them): nothing to do."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """As :meth:`mkdir`."""

    def rm_file(self, path: str) -> None:
        """Refused: the cluster is write-once."""
        raise PermissionError(f"cannot delete /{self._strip_protocol(path)}: cluster files are write-once")

    def _rm(self, path: str) -> None:
        self.rm_file(path)


_FS_OPTIONS = frozenset(
    {"use_listings_cache", "listings_expiry_time", "max_paths", "skip_instance_cache", "asynchronous", "loop"}
)
