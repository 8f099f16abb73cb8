"""``.h5r`` results files in the PyTables layout PYME reads (compute.md §3.3).

A results file holds tables at the root (``FitResults``, ``DriftResults``, ``Events``, …), each a PyTables ``Table``
created from the first appended array's (possibly nested) structured dtype, compressed with zlib level 5 + shuffle as
PYME does, and a ``/MetaData`` group where the metadata key ``a.b.c`` is attribute ``c`` of group ``/MetaData/a/b``.

Appends are durable when :func:`append_table` returns: the table and the file are flushed and the file is fsynced (and
its directory too when the file was created). PYME answers 200 before its data reach disk; we do not.

A file is opened by one writer at a time (HDF5 does not support concurrent writers); callers that append from many
threads (the data server) serialise per file.

Examples
--------
>>> import tempfile, os, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "x.h5r")
>>> recs = np.zeros(3, dtype=[("a", "<f4"), ("b", "<f4")])
>>> append_table(path, "FitResults", recs)
3
>>> read_table(path, "FitResults", start=1).shape
(2,)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import tables

from photonflow.errors import FormatError, NotFoundError
from photonflow.formats.metadata import Metadata

__all__ = [
    "EVENTS_DTYPE",
    "H5RFile",
    "append_table",
    "events_to_records",
    "list_tables",
    "read_metadata",
    "read_table",
    "write_metadata",
]

EVENTS_DTYPE = np.dtype([("EventName", "S32"), ("EventDescr", "S256"), ("Time", "<f8")])
_FILTERS = tables.Filters(complevel=5, complib="zlib", shuffle=True)
_METADATA = "MetaData"

PathLike = str | os.PathLike[str]


def events_to_records(events: list[Any]) -> np.ndarray:
    """Convert PYME ``events.json`` entries ``[name, description, time]`` to an :data:`EVENTS_DTYPE` array.

    Raises
    ------
    FormatError
        An entry is not a 3-item ``[str, str, number]`` list.
    """
    out = np.zeros(len(events), EVENTS_DTYPE)
    for i, ev in enumerate(events):
        if not (isinstance(ev, list | tuple) and len(ev) == 3):
            raise FormatError(f"event {i} must be [name, description, time], got {ev!r}")
        name, descr, t = ev
        try:
            out[i] = (str(name).encode(), str(descr).encode(), float(t))
        except (TypeError, ValueError) as exc:
            raise FormatError(f"event {i} {ev!r}: {exc}") from exc
    return out


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_table_name(name: str) -> None:
    if not name.isidentifier() or name == _METADATA:
        raise FormatError(f"invalid results table name {name!r}: use an identifier such as 'FitResults'")


class H5RFile:
    """An open ``.h5r`` file.

    Parameters
    ----------
    path : str or PathLike
        The file.
    mode : {"r", "a", "w"}
        Read only; read/append (created if absent); or create/truncate.

    Raises
    ------
    NotFoundError
        ``mode="r"`` and the file does not exist.
    FormatError
        The file exists but is not HDF5.
    """

    def __init__(self, path: PathLike, mode: Literal["r", "a", "w"] = "r") -> None:
        if mode not in ("r", "a", "w"):
            raise ValueError(f"mode must be 'r', 'a' or 'w', got {mode!r}")
        self.path = Path(path)
        created = not self.path.exists()
        if mode == "r" and created:
            raise NotFoundError(f"results file {self.path} does not exist")
        if created:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._h5 = tables.open_file(str(self.path), mode=mode)
        except tables.HDF5ExtError as exc:
            raise FormatError(f"{self.path} is not a readable HDF5 results file: {exc}") from exc
        self._created = created and mode != "r"

    # -- context manager ---------------------------------------------------------------------------------------------
    def __enter__(self) -> H5RFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._h5.isopen:
            self._h5.close()

    def flush(self, *, durable: bool = True) -> None:
        """Flush HDF5 buffers; with ``durable``, also fsync the file (and its directory if we created it)."""
        self._h5.flush()
        if durable:
            _fsync_path(self.path)
            if self._created:
                _fsync_path(self.path.parent)
                self._created = False

    # -- tables ------------------------------------------------------------------------------------------------------
    def list_tables(self) -> list[str]:
        """Names of the tables at the root, sorted."""
        return sorted(node._v_name for node in self._h5.list_nodes("/", classname="Table"))

    def append(self, name: str, records: np.ndarray) -> int:
        """Append structured ``records`` to table ``name`` (created from their dtype); return the new row count.

        Raises
        ------
        FormatError
            ``records`` is not a 1-D structured array, or its fields differ from the existing table's.
        """
        _check_table_name(name)
        recs = np.asarray(records)
        if recs.dtype.names is None:
            raise FormatError(f"results for {name!r} must be a structured (record) array, got dtype {recs.dtype}")
        recs = recs.reshape(-1)
        if name in self._h5.root:
            table = self._h5.get_node("/", name)
            if not isinstance(table, tables.Table):
                raise FormatError(f"{name!r} in {self.path} is not a table")
            have = table.dtype
            if _field_paths(have) != _field_paths(recs.dtype):
                raise FormatError(
                    f"cannot append to {name!r}: its columns are {_field_paths(have)}, the records have "
                    f"{_field_paths(recs.dtype)}"
                )
            if recs.dtype != have:
                recs = recs.astype(have)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", tables.NaturalNameWarning)
                table = self._h5.create_table("/", name, description=recs.dtype, filters=_FILTERS)
        if recs.shape[0]:
            table.append(recs)
        table.flush()
        return int(table.nrows)

    def read(self, name: str, *, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Rows ``[start, stop)`` of table ``name`` (Python slice semantics; clipped to the table).

        Raises
        ------
        NotFoundError
            There is no table ``name``.
        """
        if name not in self._h5.root or name == _METADATA:
            raise NotFoundError(f"results file {self.path} has no table {name!r}")
        table = self._h5.get_node("/", name)
        if not isinstance(table, tables.Table):
            raise NotFoundError(f"{name!r} in {self.path} is not a table")
        lo, hi, _ = slice(start, stop).indices(int(table.nrows))
        if hi <= lo:
            return np.zeros(0, dtype=table.dtype)
        return np.asarray(table.read(start=lo, stop=hi))

    def nrows(self, name: str) -> int:
        """Number of rows of table ``name`` (0 if absent)."""
        if name not in self._h5.root:
            return 0
        return int(self._h5.get_node("/", name).nrows)

    # -- metadata ----------------------------------------------------------------------------------------------------
    def write_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Merge ``metadata`` into ``/MetaData`` (a key ``a.b.c`` → attribute ``c`` of ``/MetaData/a/b``)."""
        md = metadata if isinstance(metadata, Metadata) else Metadata(metadata)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tables.NaturalNameWarning)
            for key, value in md.items():
                *groups, attr = key.split(".")
                where = "/" + "/".join([_METADATA, *groups])
                try:
                    group = self._h5.get_node(where)
                except tables.NoSuchNodeError:
                    parent, _, leaf = where.rpartition("/")
                    group = self._h5.create_group(parent or "/", leaf, createparents=True)
                group._f_setattr(attr, value)

    def read_metadata(self) -> Metadata:
        """The file's metadata (empty if it has none)."""
        md = Metadata()
        if _METADATA not in self._h5.root:
            return md
        root = self._h5.get_node("/" + _METADATA)
        for group in self._h5.walk_groups(root):
            prefix = group._v_pathname[len("/" + _METADATA) :].strip("/").replace("/", ".")
            for attr in group._v_attrs._f_list("user"):
                value = group._v_attrs[attr]
                if isinstance(value, bytes | np.bytes_):
                    value = bytes(value).decode("utf-8", "replace")
                md[f"{prefix}.{attr}" if prefix else attr] = value
        return md


def _field_paths(dtype: np.dtype, prefix: str = "") -> list[str]:
    out: list[str] = []
    for name in dtype.names or ():
        sub = dtype.fields[name][0]  # type: ignore[index]
        if sub.names is not None:
            out.extend(_field_paths(sub, f"{prefix}{name}_"))
        else:
            out.append(prefix + name)
    return out


def append_table(path: PathLike, name: str, records: np.ndarray, *, durable: bool = True) -> int:
    """Append records to table ``name`` of the results file at ``path`` (created as needed); return its row count.

    With ``durable`` (the default) the data are flushed and fsynced before this returns.
    """
    with H5RFile(path, "a") as f:
        n = f.append(name, records)
        f.flush(durable=durable)
    return n


def read_table(path: PathLike, name: str, *, start: int | None = None, stop: int | None = None) -> np.ndarray:
    """Rows ``[start, stop)`` of table ``name`` of the results file at ``path``.

    Raises
    ------
    NotFoundError
        The file or the table does not exist.
    """
    with H5RFile(path, "r") as f:
        return f.read(name, start=start, stop=stop)


def list_tables(path: PathLike) -> list[str]:
    """Names of the tables in the results file at ``path``."""
    with H5RFile(path, "r") as f:
        return f.list_tables()


def write_metadata(path: PathLike, metadata: Mapping[str, Any], *, durable: bool = True) -> None:
    """Merge ``metadata`` into the results file at ``path`` (created as needed)."""
    with H5RFile(path, "a") as f:
        f.write_metadata(metadata)
        f.flush(durable=durable)


def read_metadata(path: PathLike) -> Metadata:
    """The metadata of the results file at ``path``."""
    with H5RFile(path, "r") as f:
        return f.read_metadata()
