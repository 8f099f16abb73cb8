"""Spooled image series (PYME's ``.pcs`` layout, storage-protocol §3): a loss-free writer and a growing reader.

A series is a cluster directory holding, in this order of arrival:

1. ``metadata.json`` — flat dotted-key metadata, as PYME writes it (acknowledged before any frame is sent);
2. ``frame%05d.pzf`` — one PZF frame per index from 0, in blocks of ``chunk_size`` consecutive frames per server
   (block ``b`` on server ``b mod N``) so analysis finds each block on one server's disk;
3. ``final_metadata.json`` then ``events.json`` — written only after **every** frame is acknowledged, so a reader
   that sees ``events.json`` sees the whole series (PYME can send them before its last frames, §8 C7–C8).

:class:`SeriesWriter` spools through a :class:`~photonflow.storage.streamer.Streamer` (pipelined, re-sends after a
connection error or a server restart). :class:`SeriesReader` reads series written by it or by PYME, while they grow.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from photonflow.errors import AlreadyExistsError, FormatError, NotFoundError, StorageError
from photonflow.formats import pzf
from photonflow.formats.metadata import Metadata
from photonflow.storage.client import ClusterClient, normalize_path, parse_uri
from photonflow.storage.streamer import Streamer

if TYPE_CHECKING:
    import dask.array

__all__ = ["Event", "SeriesReader", "SeriesWriter", "SpoolReport", "frame_name"]

log = logging.getLogger(__name__)

Event = tuple[str, str, float]
"""One entry of ``events.json``: event name, description, time (unix seconds)."""

_FRAME_RE = re.compile(r"^frame(\d{5,})\.pzf$")
# Metadata key recording the spool block size, so readers can chunk a dask view like the spool (not a PYME key;
# PYME ignores unknown keys).
CHUNK_SIZE_KEY = "Spooler.ChunkSize"


def frame_name(index: int) -> str:
    """File name of frame ``index`` in a series: ``frame00042.pzf`` (6+ digits from 100000 on)."""
    return f"frame{index:05d}.pzf"


def _series_path(path: str) -> str:
    path = parse_uri(path).path if "://" in path else normalize_path(path)
    if not path:
        raise ValueError("a series needs a path, e.g. 'run1/cell3.pcs'; the cluster root cannot be one")
    return path


@dataclass(frozen=True, slots=True)
class SpoolReport:
    """What spooling a series took.

    Attributes
    ----------
    path : str
        The series.
    frames : int
        Frames acknowledged.
    complete : bool
        ``events.json`` was written (every frame acknowledged first).
    raw_bytes, stored_bytes : int
        Pixel bytes given to :meth:`SeriesWriter.store_frame`, and PZF bytes the servers acknowledged.
    resent : tuple of str
        Files sent again after a connection error or a server restart (none lost: each was then acknowledged).
    reconnects : int
        Connections re-opened.
    frames_per_server : dict
        Server URL → frames it stores.
    elapsed_s : float
        From the writer's creation to the end of spooling.
    """

    path: str
    frames: int
    complete: bool
    raw_bytes: int
    stored_bytes: int
    resent: tuple[str, ...]
    reconnects: int
    frames_per_server: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0


class SeriesWriter:
    """Spool frames into a new ``.pcs`` series on a cluster, loss-free.

    Parameters
    ----------
    client_or_servers : ClusterClient or sequence of str
        Where to write: a client (its servers, those on this host first, and its token) or server URLs.
    path : str
        Series path (cluster-relative, or a ``PYME-CLUSTER://`` URI), conventionally ending in ``.pcs``.
    metadata : mapping
        Acquisition metadata (flat dotted keys, PYME units). Missing series keys are filled in as PYMEAcquire does:
        ``imageID``, ``DimOrder`` ``"XYCZT"``, ``SizeC`` 1, ``SizeZ`` 1, ``SizeT`` −1 (growing), ``StartTime``.
    chunk_size : int
        Consecutive frames per server block (PYME's ``httpspooler-chunksize``).
    compression : {"huffman", "blosc2", "raw"}
        PZF codec. ``"huffman"`` is PYME-readable; ``"blosc2"`` is faster but only photonflow reads it.
    quantization : (offset, scale), optional
        PYME's lossy square-root quantization (uint16 frames, with ``"huffman"`` or ``"blosc2"``).
    token : str, optional
        Cluster token (default: the client's).
    copy_frames : bool
        Copy each frame when it is stored, so the caller may reuse its buffer at once (camera ring buffers). Turn off
        only when frames are never modified after :meth:`store_frame`.
    encode_threads, queue_size, retry_timeout_s, timeout_s :
        Passed to the :class:`~photonflow.storage.streamer.Streamer`.

    Raises
    ------
    AlreadyExistsError
        The series exists already (series are write-once).

    Examples
    --------
    >>> with SeriesWriter(client, "run1/cell3.pcs", {"voxelsize.x": 0.1}) as w:  # doctest: +SKIP
    ...     for i, frame in enumerate(camera_frames):
    ...         w.store_frame(i, frame)
    ...     report = w.finalize([("StartAq", "0", t0)])
    """

    def __init__(
        self,
        client_or_servers: ClusterClient | Sequence[str],
        path: str,
        metadata: Mapping[str, Any],
        *,
        chunk_size: int = 50,
        compression: pzf.CompressionLike = "huffman",
        quantization: tuple[float, float] | None = None,
        token: str | None = None,
        copy_frames: bool = True,
        encode_threads: int = 2,
        queue_size: int = 32,
        retry_timeout_s: float = 60.0,
        timeout_s: float = 30.0,
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self.path = _series_path(path)
        self.chunk_size = chunk_size
        self._compression = compression
        self._quantization = quantization
        self._copy = copy_frames
        self._start = time.monotonic()
        if isinstance(client_or_servers, ClusterClient):
            if client_or_servers.exists(self.path):
                raise AlreadyExistsError(
                    f"series /{self.path} already exists on cluster {client_or_servers.cluster!r}; "
                    "series are write-once, choose a new name"
                )
            servers = [s.url for s in client_or_servers.servers()]
            token = token if token is not None else client_or_servers.token
        else:
            servers = list(client_or_servers)
        self.metadata = Metadata(metadata)
        self.sequence_id = secrets.randbits(62) + 1  # PYME always writes 0 (§8 C16); ours is unique per series
        for key, default in (
            ("imageID", self.sequence_id),
            ("DimOrder", "XYCZT"),
            ("SizeC", 1),
            ("SizeZ", 1),
            ("SizeT", -1),
            ("StartTime", time.time()),
        ):
            self.metadata.setdefault(key, default)
        self.metadata[CHUNK_SIZE_KEY] = chunk_size
        self._streamer = Streamer(
            servers,
            token=token,
            encode_threads=encode_threads,
            queue_size=queue_size,
            retry_timeout_s=retry_timeout_s,
            timeout_s=timeout_s,
        )
        self._stored: set[int] = set()
        self._frame_shape: tuple[int, ...] | None = None
        self._frame_dtype: np.dtype | None = None
        self._raw_bytes = 0
        self._frames_per_server = dict.fromkeys(self._streamer.servers, 0)
        self._finished = False
        self.report: SpoolReport | None = None
        try:
            self._streamer.put(f"{self.path}/metadata.json", self.metadata.to_json().encode(), server=0)
            # metadata.json first: readers (and PYME's) treat a directory without it as no series at all.
            self._streamer.flush(timeout_s=timeout_s + retry_timeout_s)
        except BaseException:
            self._streamer.abort()
            raise

    @property
    def servers(self) -> list[str]:
        """Server URLs; frame block ``b`` goes to ``servers[b % len(servers)]``."""
        return self._streamer.servers

    @property
    def frames_stored(self) -> int:
        """Frames handed to :meth:`store_frame` so far."""
        return len(self._stored)

    def server_for(self, index: int) -> int:
        """Index into :attr:`servers` of the server holding frame ``index``."""
        return (index // self.chunk_size) % len(self._streamer.servers)

    def store_frame(self, index: int, frame: np.ndarray) -> None:
        """Queue frame ``index`` (from 0); it is compressed on the encoding pool and streamed to its server.

        Blocks while the servers fall behind (bounded memory).

        Raises
        ------
        ValueError
            The index was stored already, or the frame's shape or dtype differ from the first frame's.
        TypeError
            The dtype is not uint8, uint16 or float32.
        StorageError
            Spooling failed for good (e.g. a full server); the series stays incomplete.
        """
        if self._finished:
            raise ValueError(f"series /{self.path} is finalized; frames can no longer be added")
        if index < 0 or index in self._stored:
            raise ValueError(f"frame index {index} is negative or already stored in /{self.path}")
        arr = np.asarray(frame)
        if self._frame_shape is None:
            if arr.ndim not in (2, 3) or arr.dtype not in (np.uint8, np.uint16, np.float32):
                raise TypeError(f"frames must be 2-D/3-D uint8, uint16 or float32, got {arr.dtype} {arr.shape}")
            self._frame_shape, self._frame_dtype = arr.shape, arr.dtype
        elif arr.shape != self._frame_shape or arr.dtype != self._frame_dtype:
            raise ValueError(
                f"frame {index} is {arr.dtype} {arr.shape}, the series is {self._frame_dtype} {self._frame_shape}"
            )
        if self._copy:
            arr = arr.copy()
        compression, quantization, seq = self._compression, self._quantization, self.sequence_id

        def encode() -> bytes:
            return pzf.encode(arr, compression=compression, quantization=quantization, frame_num=index,
                              sequence_id=seq)

        server = self.server_for(index)
        self._streamer.put(f"{self.path}/{frame_name(index)}", encode, server=server)
        self._stored.add(index)
        self._raw_bytes += arr.nbytes
        self._frames_per_server[self._streamer.servers[server]] += 1

    def flush(self, *, timeout_s: float | None = None) -> None:
        """Wait until every frame stored so far is acknowledged."""
        self._streamer.flush(timeout_s=timeout_s)

    def finalize(self, events: Iterable[Sequence[Any]] | np.ndarray = (), *,
                 final_metadata: Mapping[str, Any] | None = None) -> SpoolReport:
        """Finish the series: wait for every frame's acknowledgement, then write ``final_metadata.json`` and,
        last, ``events.json``.

        Parameters
        ----------
        events : iterable of (name, description, time), or a structured array
            Acquisition events (PYME's ``EventName``, ``EventDescr``, ``Time`` fields are accepted).
        final_metadata : mapping, optional
            Entries added to the final metadata (``EndTime`` and ``SizeT`` are set here).

        Returns
        -------
        SpoolReport

        Raises
        ------
        ValueError
            Frames are missing (indices are not 0..n−1): the series is left incomplete, without ``events.json``.
        StorageError
            A frame could not be stored.
        """
        if self._finished:
            raise ValueError(f"series /{self.path} is already finalized")
        self._finished = True
        try:
            self._streamer.flush()
            n = len(self._stored)
            if n and max(self._stored) != n - 1:
                missing = sorted(set(range(max(self._stored) + 1)) - self._stored)
                raise ValueError(
                    f"series /{self.path} lacks frames {missing[:10]}{' …' if len(missing) > 10 else ''}; "
                    "frames must be numbered 0..n-1. It is left incomplete (no events.json)"
                )
            event_list = _event_list(events)
            final = self.metadata.copy()
            final.update(final_metadata or {})
            final["EndTime"] = time.time()
            final["SizeT"] = n
            self._streamer.put(f"{self.path}/final_metadata.json", final.to_json().encode(), server=0)
            self._streamer.flush()
            self._streamer.put(f"{self.path}/events.json", _dumps_events(event_list), server=0)
            self._streamer.close()
        except BaseException:
            self._streamer.abort()
            self.report = self._make_report(complete=False)
            raise
        self.report = self._make_report(complete=True)
        if self.report.resent:
            log.warning("series /%s: %d files re-sent after connection errors, all acknowledged",
                        self.path, len(self.report.resent))
        return self.report

    def abort(self) -> SpoolReport:
        """Stop without completing: waits (bounded) for frames already sent, writes no ``events.json``."""
        if not self._finished:
            self._finished = True
            try:
                self._streamer.close(timeout_s=self._streamer.timeout_s)
            except StorageError as exc:
                log.warning("series /%s: frames still in flight were lost: %s", self.path, exc)
                self._streamer.abort()
            self.report = self._make_report(complete=False)
            log.warning("series /%s left incomplete (no events.json); %d frames stored",
                        self.path, self.report.frames)
        assert self.report is not None
        return self.report

    def _make_report(self, *, complete: bool) -> SpoolReport:
        stats = self._streamer.stats()
        # Complete: every frame was acknowledged. Otherwise: all acknowledged files but metadata.json, at most
        # (final_metadata.json is only sent once every frame is acknowledged).
        frames = len(self._stored) if complete else min(len(self._stored), max(stats.files_acknowledged - 1, 0))
        return SpoolReport(
            path=self.path,
            frames=frames,
            complete=complete,
            raw_bytes=self._raw_bytes,
            stored_bytes=stats.bytes_acknowledged,
            resent=stats.resent_paths,
            reconnects=stats.reconnects,
            frames_per_server=dict(self._frames_per_server),
            elapsed_s=time.monotonic() - self._start,
        )

    def __enter__(self) -> SeriesWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            if not self._finished:
                self.finalize()
            return
        if not self._finished:
            report = self.abort()
            exc.add_note(
                f"photonflow: series /{self.path} was left INCOMPLETE (no events.json; "
                f"{report.frames} frames stored); spool it again under a new name"
            )


def _event_list(events: Iterable[Sequence[Any]] | np.ndarray) -> list[Event]:
    if isinstance(events, np.ndarray) and events.dtype.names:
        names = events.dtype.names
        cols = ("EventName", "EventDescr", "Time") if "EventName" in names else names[:3]
        rows: Iterable[Sequence[Any]] = zip(*(events[c] for c in cols), strict=True)
    else:
        rows = events
    out: list[Event] = []
    for row in rows:
        name, descr, when = row
        out.append((_text(name), _text(descr), float(when)))
    return out


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes | np.bytes_) else str(value)


def _dumps_events(events: list[Event]) -> bytes:
    return json.dumps([list(e) for e in events]).encode()


class SeriesReader:
    """Read a spooled series (ours or PYME's), also while it is still growing.

    Parameters
    ----------
    client : ClusterClient
        The cluster; frames on this host's data server are read from disk (the client's local reads).
    path : str
        Series path or ``PYME-CLUSTER://`` URI.

    Raises
    ------
    NotFoundError
        No series there (no ``metadata.json``).

    Examples
    --------
    >>> series = SeriesReader(client, "run1/cell3.pcs")  # doctest: +SKIP
    >>> len(series), series.shape, series.is_complete
    (2000, (64, 64), True)
    >>> stack = series.to_dask()[100:200].mean(axis=0).compute()
    """

    def __init__(self, client: ClusterClient, path: str) -> None:
        self.client = client
        self.path = _series_path(path)
        try:
            text = client.get_file(f"{self.path}/metadata.json")
        except NotFoundError:
            raise NotFoundError(
                f"/{self.path} is not a series on cluster {client.cluster!r} (no metadata.json)"
            ) from None
        self.metadata = Metadata.from_json(text)
        self._count = 0
        self._complete = False
        self._expected: int | None = None
        self._locations: dict[int, tuple[str, ...]] = {}
        self._header: pzf.PZFHeader | None = None
        self.refresh()

    # ------------------------------------------------------------------------------------------------ growth

    def refresh(self) -> int:
        """Re-list the series (unless it is complete: then nothing changes); return the frame count."""
        if self._complete:
            return self._count
        listing = self.client.listdirectory(self.path, fresh=True)
        indices: dict[int, tuple[str, ...]] = {}
        for name in listing:
            match = _FRAME_RE.match(name)
            if match:
                indices[int(match.group(1))] = listing.locations.get(name, ())
        count = 0
        while count in indices:  # frames must be contiguous from 0 (PYME's readers index them by name)
            count += 1
        self._count = count
        self._locations = indices
        if "events.json" in listing:
            self._expected = self._final_frame_count(listing)
            self._complete = self._expected is None or count >= self._expected
            if not self._complete:
                log.warning("series /%s has events.json but %d of %d frames", self.path, count, self._expected)
        return count

    def _final_frame_count(self, listing: Mapping[str, Any]) -> int | None:
        """Frames the writer said it wrote (``SizeT`` of ``final_metadata.json``), if it said so."""
        if "final_metadata.json" not in listing:
            return None
        try:
            final = Metadata.from_json(self.client.get_file(f"{self.path}/final_metadata.json"))
        except (FormatError, StorageError):
            return None
        size_t = final.get("SizeT")
        return int(size_t) if isinstance(size_t, int) and size_t >= 0 else None

    def wait_for(self, n: int, *, timeout_s: float, poll_s: float = 0.2) -> bool:
        """Wait until at least ``n`` frames are present (or the series completes); ``True`` if they are."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.refresh() >= n:
                return True
            if self._complete or time.monotonic() >= deadline:
                return self._count >= n
            time.sleep(min(poll_s, max(deadline - time.monotonic(), 0.0)))

    @property
    def is_complete(self) -> bool:
        """``events.json`` exists (and every frame the final metadata announces is there)."""
        return self._complete

    def __len__(self) -> int:
        return self._count

    @property
    def servers(self) -> dict[str, int]:
        """Server URL → how many of the present frames it holds."""
        counts: dict[str, int] = {}
        for index in range(self._count):
            for url in self._locations.get(index, ()):
                counts[url] = counts.get(url, 0) + 1
        return counts

    @property
    def events(self) -> list[Event]:
        """The series' events (empty while it is incomplete).

        Raises
        ------
        FormatError
            ``events.json`` is not a list of ``[name, description, time]``.
        """
        if not self._complete:
            return []
        raw = self.client.get_file(f"{self.path}/events.json")
        try:
            rows = json.loads(raw)
            return [(str(name), str(descr), float(when)) for name, descr, when in rows]
        except (ValueError, TypeError) as exc:
            raise FormatError(f"/{self.path}/events.json is not a list of [name, description, time]: {exc}") from exc

    # ------------------------------------------------------------------------------------------------ frames

    def _blob(self, index: int) -> bytes:
        # The listing named the frame's holder: ask it directly instead of re-listing the series per frame.
        holders = self._locations.get(index)
        return self.client.get_file(f"{self.path}/{frame_name(index)}", server=holders[0] if holders else None)

    @property
    def header(self) -> pzf.PZFHeader:
        """The PZF header of frame 0 (shape, dtype, codec).

        Raises
        ------
        IndexError
            No frame has arrived yet.
        """
        if self._header is None:
            if not self._count and not self.refresh():
                raise IndexError(f"series /{self.path} has no frames yet")
            self._header = pzf.decode_header(self._blob(0))
        return self._header

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one frame (PYME's convention: axis 0 is x)."""
        return self.header.shape

    @property
    def dtype(self) -> np.dtype:
        """Pixel type."""
        return self.header.dtype

    def __getitem__(self, index: int | slice) -> np.ndarray:
        """Frame ``index`` (negative counts from the end), or a stack of frames for a slice."""
        if isinstance(index, slice):
            return np.stack([self[i] for i in range(*index.indices(self._count))]) if self._count else np.empty(0)
        i = int(index)
        if i < 0:
            i += self._count
        if i >= self._count and not self._complete:
            self.refresh()
        if not 0 <= i < self._count:
            raise IndexError(f"frame {index} out of range: series /{self.path} has {self._count} frames")
        frame, _ = pzf.decode(self._blob(i))
        return frame

    def read_frames(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start..stop-1`` stacked into one new array."""
        out = np.empty((stop - start, *self.shape), self.dtype)
        for k, i in enumerate(range(start, stop)):
            blob = self._blob(i)
            header = pzf.decode_header(blob)
            if header.dim_order == "C":
                pzf.decode_into(blob, out[k])
            else:
                out[k] = pzf.decode(blob)[0]
        return out

    def to_dask(self, *, chunk_size: int | None = None) -> dask.array.Array:
        """A dask array of the frames present now, shape ``(len(self), *shape)``, one chunk per spool block.

        Parameters
        ----------
        chunk_size : int, optional
            Frames per dask chunk; default the series' spool block size (``Spooler.ChunkSize``, else 50).
        """
        import dask
        import dask.array as da

        if chunk_size is None:
            chunk_size = int(self.metadata.get(CHUNK_SIZE_KEY, 50))
        n = self._count
        if not n:
            return da.empty((0,), dtype=np.uint16)
        shape, dtype = self.shape, self.dtype
        blocks = []
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            block = dask.delayed(self.read_frames, pure=True)(start, stop)
            blocks.append(da.from_delayed(block, shape=(stop - start, *shape), dtype=dtype))
        return da.concatenate(blocks, axis=0)
