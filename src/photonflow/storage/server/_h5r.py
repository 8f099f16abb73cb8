"""Results files on the data server: ``PUT /__aggregate_h5r/<path>.h5r/<Table>`` (§1.10) and the table views
``GET /<path>.h5r/<Table>[.json|.npy|.csv|.txt]?from=&to=`` (§1.9).

Appends decode the body first (``.npy``, JSON records, or a pickle through the restricted unpickler when
``allow_pickle`` is on; anything else is answered 400 before the file is touched), then append under the container
locks and fsync before the 200 (see :mod:`._hdf5`). ``<Table>`` = ``MetaData`` merges a JSON object into the file's
metadata. Column sets that differ from the existing table's are answered 400.

Views answer like PYME: ``.json`` in pandas' column orientation (``{"col": {"0": v, …}}``, rows numbered from 0 within
the range, nested columns flattened as ``group_field``, NaN as ``null``), ``.npy``, ``.csv``/``.txt`` (header row, no
index column), no extension = a pickle of the record array (what old PYME clients read; our clients use ``.npy``);
``Metadata``/``MetaData`` = the metadata as JSON; a missing table = an empty array; ``GET <path>.h5r/`` lists the
tables as ``{"<Table>": [0, <rows>]}``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import pickle
import posixpath
from typing import Any
from urllib.parse import parse_qs

import numpy as np

from photonflow.formats.bodies import decode_body
from photonflow.formats.h5r import H5RFile
from photonflow.formats.metadata import Metadata
from photonflow.storage.server._aggregate import ViewResponse
from photonflow.storage.server._hdf5 import ContainerAccess, split_container

__all__ = ["SUFFIXES", "H5RAppend", "H5RTableView", "flat_columns"]

SUFFIXES = (".h5r", ".hdf")
_METADATA_TABLES = ("MetaData", "Metadata")
_FORMATS = ("", ".json", ".npy", ".csv", ".txt")
_JSON = "text/json"


class H5RAppend:
    """``__aggregate_h5r``: append records to a table of a results file, or merge its metadata.

    Parameters
    ----------
    access : ContainerAccess
        Locks and durability shared with the views.
    allow_pickle : bool
        Accept pickled numpy arrays (PYME clients send them) through the restricted unpickler.
    """

    kind = "h5r"

    def __init__(self, access: ContainerAccess, *, allow_pickle: bool) -> None:
        self._access = access
        self._allow_pickle = allow_pickle

    def container(self, rel: str) -> str:
        """The results file ``rel`` appends to (``r/x.h5r`` for ``r/x.h5r/FitResults``)."""
        return split_container(rel, SUFFIXES)[0]

    def append(self, target: str, body: bytes, *, rel: str) -> None:
        """Append ``body`` to the table named by ``rel`` in the results file ``target``."""
        table = split_container(rel, SUFFIXES)[1]
        if table in _METADATA_TABLES:
            metadata = Metadata.from_json(body)
            self._access.update(target, lambda: _write_metadata(target, metadata))
            return
        if not table:
            raise ValueError("legacy pickled fitResult objects are not accepted; PUT records to <file>.h5r/<Table>")
        records = decode_body(body, allow_pickle=self._allow_pickle)
        self._access.update(target, lambda: _append(target, table, records))


def _write_metadata(path: str, metadata: Metadata) -> None:
    with H5RFile(path, "a") as f:
        f.write_metadata(metadata)
        f.flush(durable=False)


def _append(path: str, table: str, records: np.ndarray) -> int:
    with H5RFile(path, "a") as f:
        n = f.append(table, records)
        f.flush(durable=False)
    return n


class H5RTableView:
    """``GET <path>.h5r/…``: tables of a results file as JSON, ``.npy``, CSV or pickle, with row ranges."""

    suffixes: tuple[str, ...] = SUFFIXES

    def __init__(self, access: ContainerAccess) -> None:
        self._access = access

    def view(self, container: str, inner: str, query: str) -> ViewResponse:
        """Answer a GET of ``inner`` inside the results file ``container``."""
        if inner.strip("/") == "":
            listing = self._access.read(container, lambda: _table_rows(container))
            return ViewResponse(200, json.dumps({name: [0, n] for name, n in listing.items()}).encode(),
                                "application/json; charset=utf-8")
        if "/" in inner:
            raise KeyError(inner)
        name, ext = posixpath.splitext(inner)
        if ext not in _FORMATS:
            raise ValueError(f"unknown table format {ext!r}; use .json, .npy, .csv, .txt or none (pickle)")
        if name in _METADATA_TABLES:
            metadata = self._access.read(container, lambda: _read_metadata(container))
            return ViewResponse(200, json.dumps(metadata.to_dict(), sort_keys=True).encode(), _JSON)
        start, stop = _row_range(query)
        rows = self._access.read(container, lambda: _read_rows(container, name, start, stop))
        return _encode(rows, ext)


def _table_rows(path: str) -> dict[str, int]:
    with H5RFile(path, "r") as f:
        return {name: f.nrows(name) for name in f.list_tables()}


def _read_metadata(path: str) -> Metadata:
    with H5RFile(path, "r") as f:
        return f.read_metadata()


def _read_rows(path: str, name: str, start: int | None, stop: int | None) -> np.ndarray | None:
    with H5RFile(path, "r") as f:
        if name not in f.list_tables():
            return None
        return f.read(name, start=start, stop=stop)


def _row_range(query: str) -> tuple[int | None, int | None]:
    params = parse_qs(query)
    out: list[int | None] = []
    for key in ("from", "to"):
        value = params.get(key, [""])[0]
        try:
            out.append(int(value) if value else None)
        except ValueError:
            raise ValueError(f"'{key}' must be an integer row number, got {value!r}") from None
    return out[0], out[1]


def flat_columns(records: np.ndarray, prefix: str = "") -> list[tuple[str, np.ndarray]]:
    """The leaf columns of a (possibly nested) record array, named ``group_field`` as PYME's tabular views do."""
    out: list[tuple[str, np.ndarray]] = []
    for name in records.dtype.names or ():
        column = records[name]
        if column.dtype.names is not None:
            out.extend(flat_columns(column, f"{prefix}{name}_"))
        else:
            out.append((prefix + name, column))
    return out


def _plain(values: np.ndarray) -> list[Any]:
    if values.dtype.kind == "S":
        return [v.decode("utf-8", "replace") for v in values.tolist()]
    items: list[Any] = values.tolist()
    if values.dtype.kind in "fc" and not np.isfinite(values).all():
        return [_finite_or_none(v) for v in items]
    return items


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


def _encode(rows: np.ndarray | None, ext: str) -> ViewResponse:
    # A missing table answers an empty array, as PYME does (live displays poll tables that do not exist yet).
    if ext == ".npy":
        buf = io.BytesIO()
        np.save(buf, np.zeros(0) if rows is None else rows, allow_pickle=False)
        return ViewResponse(200, buf.getvalue())
    if ext == "":
        return ViewResponse(200, pickle.dumps(np.zeros(0) if rows is None else rows, protocol=2))
    columns = [] if rows is None else flat_columns(rows)
    if ext == ".json":
        doc = {name: {str(i): v for i, v in enumerate(_plain(col))} for name, col in columns}
        return ViewResponse(200, json.dumps(doc, allow_nan=False).encode(), _JSON)
    text = io.StringIO()
    if columns:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow([name for name, _ in columns])
        writer.writerows(zip(*(_plain(col) for _, col in columns), strict=True))
    return ViewResponse(200, text.getvalue().encode(), "text/csv")
