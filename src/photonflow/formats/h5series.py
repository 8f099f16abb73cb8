"""Single-file image series (PYME's ``cluster_h5`` layout, storage-protocol §1.8, §1.10, §3.5).

A ``<series>.h5`` file holds:

* ``/PZFImageData`` — a variable-length array, one stored PZF blob per row (PyTables ``VLStringAtom``);
* ``/PZFImageIndex`` — a table ``FrameNum int32, Position int32`` mapping a frame number (from the PZF header) to its
  row in ``PZFImageData``;
* ``/MetaData`` — the series metadata as group attributes (the same layout as ``.h5r`` files);
* ``/Events`` — a table ``EventName S32, EventDescr S256, Time f8``.

Series spooled by PYME's HDF backend store raw frames in an ``/ImageData`` array instead; :meth:`H5Series.frame_blob`
re-encodes those as Huffman PZF, as PYME's server does.

:class:`H5Series` is the file-level reader/writer (the data server's ``__aggregate_h5`` endpoint and its ``.h5/``
view use it). On the cluster a ``.h5`` series reads exactly like a ``.pcs`` directory through that view, so
:func:`open_series` returns a :class:`~photonflow.formats.series.SeriesReader` for either.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import tables

from photonflow.errors import FormatError, NotFoundError
from photonflow.formats import pzf
from photonflow.formats.h5r import H5RFile, PathLike, events_to_records
from photonflow.formats.metadata import Metadata

if TYPE_CHECKING:
    from photonflow.formats.series import SeriesReader
    from photonflow.storage.client import ClusterClient

__all__ = ["FRAME_INDEX_DTYPE", "H5Series", "open_series", "parse_frame_name"]

FRAME_INDEX_DTYPE = np.dtype([("FrameNum", "<i4"), ("Position", "<i4")])
_DATA = "PZFImageData"
_INDEX = "PZFImageIndex"
_RAW = "ImageData"
_EVENTS = "Events"
_FRAME_RE = re.compile(r"^frame(\d+)\.pzf$")
_METADATA_NAMES = ("metadata.json", "MetaData")


def parse_frame_name(name: str) -> int | None:
    """The frame number of ``frame%05d.pzf`` (any number of digits; PYME reads 5 only, §8 S14), else ``None``."""
    match = _FRAME_RE.match(name)
    return int(match.group(1)) if match else None


class H5Series(H5RFile):
    """An open single-file series.

    Parameters
    ----------
    path : str or PathLike
        The ``.h5`` file.
    mode : {"r", "a", "w"}
        Read only; read/append (created if absent); or create/truncate.

    Raises
    ------
    NotFoundError
        ``mode="r"`` and the file does not exist.
    FormatError
        The file is not HDF5.
    """

    def __init__(self, path: PathLike, mode: Literal["r", "a", "w"] = "r") -> None:
        super().__init__(path, mode)
        self._index: dict[int, int] | None = None

    def __enter__(self) -> Self:
        return self

    # -- writing -----------------------------------------------------------------------------------------------------
    def put(self, component: str, body: bytes) -> bool:
        """Store one component sent to ``__aggregate_h5/<series>.h5/<component>``; ``False`` if it is ignored.

        ``metadata.json``/``MetaData`` merge JSON metadata, ``events.json`` appends events, ``frame*`` appends a PZF
        blob; anything else (``final_metadata.json``) is ignored, as PYME does.

        Raises
        ------
        FormatError
            The body is not what the component needs, or a frame number is stored already with other bytes.
        """
        if component in _METADATA_NAMES:
            self.write_metadata(_json_object(body, component))
        elif component == "events.json":
            events = _json_value(body, component)
            if not isinstance(events, list):
                raise FormatError("events.json must be a JSON array of [name, description, time]")
            self.append_events(events)
        elif component.startswith("frame"):
            self.append_frame(body)
        else:
            return False
        return True

    def append_frame(self, blob: bytes) -> int:
        """Append a PZF frame; return its frame number (from the PZF header).

        Storing the same bytes again is a no-op (a client re-sending an unacknowledged frame).

        Raises
        ------
        FormatError
            ``blob`` is not a valid PZF frame, or its frame number is stored already with different bytes.
        """
        header = pzf.decode_header(blob)
        num = header.frame_num
        index = self._frame_index()
        if num in index:
            if bytes(self._data()[index[num]]) == bytes(blob):
                return num
            raise FormatError(f"frame {num} is stored already with different content; frames are write-once")
        data = self._data(create=True)
        data.append(bytes(blob))
        position = int(data.nrows) - 1
        self.append(_INDEX, np.array([(num, position)], FRAME_INDEX_DTYPE))
        index[num] = position
        return num

    def append_events(self, events: Iterable[Any]) -> int:
        """Append ``[name, description, time]`` events; return the event count."""
        return self.append(_EVENTS, events_to_records(list(events)))

    def _data(self, *, create: bool = False) -> tables.VLArray:
        if _DATA in self._h5.root:
            node = self._h5.get_node("/", _DATA)
            if not isinstance(node, tables.VLArray):
                raise FormatError(f"{self.path}: /{_DATA} is not a variable-length array")
            return node
        if not create:
            raise NotFoundError(f"{self.path} holds no PZF frames")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tables.NaturalNameWarning)
            return self._h5.create_vlarray("/", _DATA, tables.VLStringAtom(), expectedrows=10000)

    def _frame_index(self) -> dict[int, int]:
        if self._index is None:
            if _INDEX in self._h5.root:
                rows = self.read(_INDEX)
                self._index = dict(zip(rows["FrameNum"].tolist(), rows["Position"].tolist(), strict=True))
            else:
                self._index = {}
        return self._index

    # -- reading -----------------------------------------------------------------------------------------------------
    def frame_numbers(self) -> list[int]:
        """The stored frame numbers, ascending."""
        if _INDEX in self._h5.root:
            return sorted(self._frame_index())
        if _RAW in self._h5.root:
            return list(range(int(self._h5.get_node("/", _RAW).shape[0])))
        return []

    def __len__(self) -> int:
        return len(self.frame_numbers())

    def frame_blob(self, num: int) -> bytes:
        """The PZF bytes of frame ``num`` (stored bytes verbatim; raw ``ImageData`` frames encoded as Huffman).

        Raises
        ------
        KeyError
            No frame ``num``.
        """
        if _INDEX in self._h5.root:
            position = self._frame_index().get(num)
            if position is None:
                raise KeyError(num)
            return bytes(self._data()[position])
        if _RAW in self._h5.root:
            raw = self._h5.get_node("/", _RAW)
            if not 0 <= num < raw.shape[0]:
                raise KeyError(num)
            return pzf.encode(np.ascontiguousarray(raw[num]), compression="huffman", frame_num=num)
        raise KeyError(num)

    def frame(self, num: int) -> np.ndarray:
        """Frame ``num`` decoded (``KeyError`` if absent)."""
        return pzf.decode(self.frame_blob(num))[0]

    def has_events(self) -> bool:
        """Whether the file has an ``Events`` table."""
        return _EVENTS in self._h5.root

    def events(self) -> list[tuple[str, str, float]]:
        """The events as ``(name, description, time)``."""
        if not self.has_events():
            return []
        rows = self.read(_EVENTS)
        return [
            (bytes(r["EventName"]).decode("utf-8", "replace"), bytes(r["EventDescr"]).decode("utf-8", "replace"),
             float(r["Time"]))
            for r in rows
        ]  # fmt: skip


def _json_value(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FormatError(f"{what} is not valid JSON: {exc}") from exc


def _json_object(body: bytes, what: str) -> Mapping[str, Any]:
    try:
        return Metadata.from_json(body)
    except FormatError as exc:
        raise FormatError(f"{what}: {exc}") from exc


def open_series(client: ClusterClient, path: str) -> SeriesReader:
    """A reader for the series at ``path``: a ``.pcs`` directory or a single-file ``.h5`` series.

    The data server presents a ``.h5`` file as a directory of ``metadata.json``, ``frame%05d.pzf`` and
    ``events.json`` (§1.8), so the same :class:`~photonflow.formats.series.SeriesReader` reads both; a ``.h5`` series
    counts as complete once it has events.
    """
    from photonflow.formats.series import SeriesReader

    return SeriesReader(client, path)
