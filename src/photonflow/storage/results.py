"""Filing analysis results into ``.h5r`` files on the cluster, like PYME's ``clusterResults`` (storage-protocol §4.11).

All appends to one results file must reach the one server that holds it (a second copy elsewhere would split the
results). The server is found by listing the file's directory across the cluster; a file that exists nowhere yet goes
to the server picked by rendezvous hashing of its path, so workers that file their first results at the same moment
agree on the server without talking to each other. A file found on two servers is reported, never appended to.

Records travel as ``.npy`` (never pickles); the server appends them durably before it answers.

Examples
--------
>>> file_metadata(client, "run1/analysis/cell3.h5r", {"voxelsize.x": 0.1})  # doctest: +SKIP
>>> file_results(client, "run1/analysis/cell3.h5r", "FitResults", records)  # doctest: +SKIP
'http://10.0.0.5:15348'
>>> read_results(client, "run1/analysis/cell3.h5r", "FitResults", start=100).shape  # doctest: +SKIP
(400,)
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from photonflow.errors import FormatError, NotFoundError, ServerUnavailableError, StorageError
from photonflow.formats.metadata import Metadata
from photonflow.storage.client import ClusterClient
from photonflow.storage.client._http import error_for_status
from photonflow.storage.client._paths import quote_path, split_parent

__all__ = ["file_metadata", "file_results", "read_results", "results_server"]

_PREFIX = "__aggregate_h5r/"
_SUFFIXES = (".h5r", ".hdf")


def _results_path(client: ClusterClient, uri_or_path: str) -> str:
    path = client._path(uri_or_path)
    path = path.removeprefix(_PREFIX)
    if not path.endswith(_SUFFIXES):
        raise ValueError(f"{uri_or_path!r} must name a results file ending in .h5r (or .hdf)")
    return path


def results_server(client: ClusterClient, uri_or_path: str) -> str:
    """URL of the server that holds (or will hold) the results file ``uri_or_path``.

    Raises
    ------
    StorageError
        The file exists on more than one server (a copy made outside photonflow); remove one copy.
    ServerUnavailableError
        The file is on no server that answered while some did not answer (it may be there).
    """
    path = _results_path(client, uri_or_path)
    parent, name = split_parent(path)
    urls = [server.url for server in client.servers()]
    try:
        listing = client.listdirectory(parent, fresh=True)
        holders, unavailable = listing.locations.get(name, ()), listing.unavailable
    except NotFoundError:
        holders, unavailable = (), tuple(url for url in urls if client._is_down(url))
    if not holders and unavailable:
        # The file may live on a server that did not answer; creating it elsewhere would split the results.
        raise ServerUnavailableError(
            f"cannot tell where results file /{path} lives: {', '.join(unavailable)} did not answer; retry later"
        )
    if len(holders) > 1:
        raise StorageError(
            f"results file /{path} exists on {len(holders)} servers ({', '.join(holders)}); appends would split the "
            "results, so keep one copy and remove the others"
        )
    if holders:
        return holders[0]
    return max(urls, key=lambda url: hashlib.sha256(f"{url}\0{path}".encode()).digest())


def _put(client: ClusterClient, url: str, path: str, part: str, body: bytes, timeout_s: float) -> None:
    target = f"{_PREFIX}{path}/{part}"
    response = client._request(url, "PUT", quote_path(target), path=target, timeout=timeout_s, body=body)
    if response.status == 400:
        raise FormatError(f"{url} refused /{target}: {response.reason or 'bad request'}")
    if response.status != 200:
        raise error_for_status(response.status, server=url, path=target, reason=response.reason)


def file_results(
    client: ClusterClient, uri_or_path: str, table_name: str, records: np.ndarray, *, timeout_s: float = 30.0
) -> str:
    """Append ``records`` (a structured array) to table ``table_name`` of the results file; return the server URL.

    The rows are on the server's disk when this returns.

    Raises
    ------
    FormatError
        ``records`` is not a structured array, or the server refused it (columns differ from the table's: HTTP 400).
    InsufficientStorageError
        The server holding the file is below its free-space floor.
    StorageError
        See :func:`results_server`, or another failure of the server.
    """
    if not table_name.isidentifier() or table_name in ("MetaData", "Metadata"):
        raise ValueError(f"invalid results table name {table_name!r}: use an identifier such as 'FitResults'")
    array = np.asarray(records)
    if array.dtype.names is None:
        raise FormatError(f"results must be a structured (record) array, got dtype {array.dtype}")
    buf = io.BytesIO()
    np.save(buf, array.reshape(-1), allow_pickle=False)
    path = _results_path(client, uri_or_path)
    url = results_server(client, path)
    _put(client, url, path, table_name, buf.getvalue(), timeout_s)
    return url


def file_metadata(
    client: ClusterClient, uri_or_path: str, metadata: Mapping[str, Any], *, timeout_s: float = 30.0
) -> str:
    """Merge ``metadata`` (flat dotted keys) into the results file's metadata (created if need be); return the URL.

    Analysis creates the results file this way before its workers file rows, as PYME's rules do.
    """
    body = json.dumps(Metadata(metadata).to_dict()).encode()
    path = _results_path(client, uri_or_path)
    url = results_server(client, path)
    _put(client, url, path, "MetaData", body, timeout_s)
    return url


def read_results(
    client: ClusterClient, uri_or_path: str, table_name: str, *, start: int | None = None, stop: int | None = None
) -> np.ndarray:
    """Rows ``[start, stop)`` of a table of a results file on the cluster (empty if the table does not exist yet).

    Raises
    ------
    NotFoundError
        The results file does not exist.
    """
    path = _results_path(client, uri_or_path)
    query = "&".join(f"{k}={v}" for k, v in (("from", start), ("to", stop)) if v is not None)
    url = results_server(client, path)
    target = f"{path}/{table_name}.npy"
    response = client._request(url, "GET", quote_path(target) + (f"?{query}" if query else ""), path=target,
                               timeout=30.0)
    if response.status != 200:
        raise error_for_status(response.status, server=url, path=target, reason=response.reason)
    return np.load(io.BytesIO(response.body), allow_pickle=False)
