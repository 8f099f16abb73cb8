"""PZF ("PYME zipped frame"): one 2-D or 3-D image per blob, byte-compatible with PYME.

Layout (storage-protocol §2): a little-endian header (64 bytes in version 3, 48 bytes before), then the pixel payload
from ``DataOffset`` to the end. Payloads are raw pixels, a BCL Huffman stream over the pixel bytes, or (PYME's
square-root quantization) a Huffman stream of one uint8 symbol per pixel. We write version 3 and read 1-3.

photonflow adds one lossless codec that PYME does not know, under compression code :attr:`Compression.BLOSC2`
(16): a Blosc2 chunk, ZSTD level 1 with byte shuffle, chosen by ``benchmarks/codecs.py`` for ≥ 2× ratio at more than
camera rate. PYME readers reject such frames ("Compression type not understood"); write them only into clusters whose
readers are photonflow.

Square-root quantization is lossy and clips: pixels below ``offset`` become 0 and decode to ``offset`` (truncated), and
values above ``(255 * scale) ** 2 + offset`` saturate. With the usual offset = the camera's ``ADOffset``, pixels
pushed below the offset by read noise lose information; an offset a few read-noise σ below the dark level (or 0)
avoids that at a small cost in ratio.

Examples
--------
>>> import numpy as np
>>> frame = np.arange(12, dtype=np.uint16).reshape(3, 4)
>>> blob = encode(frame, frame_num=7)
>>> data, header = decode(blob)
>>> bool((data == frame).all()), header.frame_num
(True, 7)
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Literal

import numpy as np

from photonflow.errors import FormatError
from photonflow.formats import _huffman, _quant

__all__ = [
    "HEADER_SIZE",
    "Compression",
    "PZFHeader",
    "Quantization",
    "SqrtQuantization",
    "decode",
    "decode_header",
    "decode_into",
    "encode",
]

MAGIC = b"BD"
VERSION = 3
HEADER_SIZE = 64
_HEADER_SIZE_V2 = 48
# ID, Version, DataFormat, DataCompression, DataQuantization, DimOrder, reserved, SequenceID, FrameNum, Width,
# Height, Depth, FrameTimestamp, QuantOffset, QuantScale
_HEADER_V2 = struct.Struct("<2sBBBBcxqIIIIQff")
_DATA_OFFSET = struct.Struct("<I")

_DTYPES = (np.dtype("<u1"), np.dtype("<u2"), np.dtype("<f4"))
# blosc2 parameters of the fast codec; see benchmarks/codecs.py for the measurements behind them.
_BLOSC2_CLEVEL = 1


class Compression(enum.IntEnum):
    """``DataCompression`` codes. 0-2 are PYME's; 16 is photonflow's fast lossless codec."""

    RAW = 0
    HUFFMAN = 1
    HUFFMAN_CHUNKED = 2  # read only: PYME's writer for it is broken (storage-protocol §2.2)
    BLOSC2 = 16


class Quantization(enum.IntEnum):
    """``DataQuantization`` codes."""

    NONE = 0
    SQRT = 1


@dataclass(frozen=True, slots=True)
class SqrtQuantization:
    """Square-root quantization parameters: ``q = round(sqrt(max(v - offset, 0)) / scale)``, in ADU.

    PYMEAcquire uses ``offset`` = ``Camera.ADOffset`` and ``scale`` = (step in units of photon-noise σ) /
    ``Camera.ElectronsPerCount``; 0.5 σ is its default. See the module docstring for the clipping caveat.
    """

    offset: float
    scale: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.offset):
            raise ValueError(f"quantization offset must be finite, got {self.offset!r}")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"quantization scale must be finite and > 0, got {self.scale!r}")


@dataclass(frozen=True, slots=True)
class PZFHeader:
    """A decoded PZF header. ``width``/``height``/``depth`` are numpy ``shape[0]``/``shape[1]``/``shape[2]``."""

    version: int
    dtype: np.dtype
    compression: Compression
    quantization: Quantization
    dim_order: Literal["C", "F"]
    sequence_id: int
    frame_num: int
    width: int
    height: int
    depth: int
    frame_timestamp: int
    quant_offset: float
    quant_scale: float
    data_offset: int

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape :func:`decode` returns: ``(width, height)``, or ``(width, height, depth)`` when depth > 1."""
        if self.depth == 1:
            return (self.width, self.height)
        return (self.width, self.height, self.depth)

    @property
    def size(self) -> int:
        """Number of pixels."""
        return self.width * self.height * self.depth


CompressionLike = Compression | int | Literal["raw", "huffman", "blosc2"]


def _coerce_compression(compression: CompressionLike) -> Compression:
    if isinstance(compression, str):
        try:
            return Compression[compression.upper()]
        except KeyError:
            raise ValueError(f"unknown compression {compression!r}; use 'raw', 'huffman' or 'blosc2'") from None
    try:
        return Compression(compression)
    except ValueError:
        raise ValueError(f"unknown compression code {compression!r}; use 0 (raw), 1 (huffman) or 16 (blosc2)") from None


def encode(
    array: np.ndarray,
    *,
    compression: CompressionLike = "huffman",
    quantization: SqrtQuantization | tuple[float, float] | None = None,
    frame_num: int = 0,
    sequence_id: int = 0,
    frame_timestamp: int = 0,
    order: Literal["C", "F"] | None = None,
) -> bytes:
    """Encode a frame as a version-3 PZF blob.

    Parameters
    ----------
    array : ndarray of shape (W, H) or (W, H, D), dtype uint8, uint16 or float32
        The frame; axis 0 is PYME's x (``Width``). Big-endian input is converted.
    compression : {"huffman", "raw", "blosc2"} or Compression
        ``"huffman"`` (PYME's default for spooling), ``"raw"``, or photonflow's fast lossless ``"blosc2"`` (not
        readable by PYME). Chunked Huffman (2) is not written (PYME's own writer for it is broken).
    quantization : SqrtQuantization or (offset, scale), optional
        Lossy square-root quantization of uint16 frames; needs ``"huffman"`` (PYME-readable) or ``"blosc2"``.
    frame_num, sequence_id, frame_timestamp : int
        Header fields (u32, i64, u64).
    order : {"C", "F"}, optional
        Payload memory order. By default, the array's own layout (``'F'`` only for an F-contiguous, non-C array).

    Returns
    -------
    bytes
        The PZF blob.

    Raises
    ------
    TypeError
        Unsupported dtype.
    ValueError
        Bad shape, options or header values.
    """
    arr = np.asarray(array)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise ValueError(f"PZF stores non-empty 2-D or 3-D frames, got an array of shape {arr.shape}")
    dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
    try:
        fmt = _DTYPES.index(np.dtype(dt))
    except ValueError:
        raise TypeError(f"PZF stores uint8, uint16 or float32 frames, not {arr.dtype}") from None
    comp = _coerce_compression(compression)
    if comp == Compression.HUFFMAN_CHUNKED:
        raise ValueError("chunked Huffman (2) is read-only; use 'huffman' or 'blosc2'")
    quant = SqrtQuantization(*quantization) if isinstance(quantization, tuple) else quantization
    if quant is not None:
        if comp == Compression.RAW:
            raise ValueError("sqrt quantization needs compression 'huffman' (PYME stores raw+quantized unreadably)")
        if fmt != 1:
            raise ValueError(f"sqrt quantization applies to uint16 frames only, not {arr.dtype}")
    if order is None:
        order = "F" if (arr.flags.f_contiguous and not arr.flags.c_contiguous) else "C"
    elif order not in ("C", "F"):
        raise ValueError(f"order must be 'C' or 'F', got {order!r}")
    for name, value, lo, hi in (
        ("frame_num", frame_num, 0, 2**32 - 1),
        ("sequence_id", sequence_id, -(2**63), 2**63 - 1),
        ("frame_timestamp", frame_timestamp, 0, 2**64 - 1),
    ):
        if not lo <= value <= hi:
            raise ValueError(f"{name}={value} does not fit its header field [{lo}, {hi}]")
    shape = arr.shape + (1,) * (3 - arr.ndim)
    if max(shape) > 2**32 - 1:
        raise ValueError(f"frame shape {arr.shape} does not fit PZF's 32-bit dimensions")
    # Flat view of the payload bytes in the requested memory order (a copy only when the layout differs).
    flat = np.ravel(arr.astype(_DTYPES[fmt], copy=False), order=order)
    if quant is not None:
        symbols = np.empty(flat.shape[0], np.uint8)
        _quant.sqrt_quantize(flat, float(quant.offset), float(quant.scale), symbols)
        payload_src = symbols
    else:
        payload_src = flat.view(np.uint8)
    if comp == Compression.RAW:
        payload = payload_src.data
    elif comp == Compression.HUFFMAN:
        payload = _huffman.huffman_encode(payload_src).data
    else:
        payload = memoryview(_blosc2_compress(payload_src, typesize=1 if quant is not None else _DTYPES[fmt].itemsize))
    header = _HEADER_V2.pack(
        MAGIC, VERSION, fmt, int(comp), Quantization.SQRT if quant is not None else Quantization.NONE,
        order.encode(), sequence_id, frame_num, shape[0], shape[1], shape[2], frame_timestamp,
        float(quant.offset) if quant is not None else 0.0, float(quant.scale) if quant is not None else 0.0,
    )
    return b"".join((header, _DATA_OFFSET.pack(HEADER_SIZE), bytes(12), payload.cast("B")))


def _blosc2_compress(data: np.ndarray, *, typesize: int) -> bytes:
    import blosc2

    return bytes(
        blosc2.compress2(
            data, codec=blosc2.Codec.ZSTD, clevel=_BLOSC2_CLEVEL, filters=[blosc2.Filter.SHUFFLE], typesize=typesize
        )
    )


def decode_header(data: bytes | bytearray | memoryview) -> PZFHeader:
    """Parse and validate the header of a PZF blob.

    Raises
    ------
    FormatError
        Wrong magic, unsupported version, data format, compression, quantization or dim order, or a blob shorter
        than its header.
    """
    buf = memoryview(data).cast("B")
    if len(buf) < _HEADER_SIZE_V2:
        raise FormatError(f"not a PZF frame: {len(buf)} bytes is shorter than the {_HEADER_SIZE_V2}-byte header")
    (magic, version, fmt, comp, quant, dim, seq, fnum, w, h, d, ts, qoff, qscale) = _HEADER_V2.unpack_from(buf)
    if magic != MAGIC:
        raise FormatError(f"not a PZF frame: magic {bytes(magic)!r}, expected {MAGIC!r}")
    if not 1 <= version <= VERSION:
        raise FormatError(f"unsupported PZF version {version}; this reader knows versions 1-{VERSION}")
    if fmt >= len(_DTYPES):
        raise FormatError(f"unsupported PZF DataFormat {fmt}; expected 0 (uint8), 1 (uint16) or 2 (float32)")
    try:
        compression = Compression(comp)
    except ValueError:
        raise FormatError(
            f"unknown PZF compression code {comp}; known codes are 0 (raw), 1 (Huffman), 2 (chunked Huffman) "
            "and 16 (photonflow blosc2)"
        ) from None
    try:
        quantization = Quantization(quant)
    except ValueError:
        raise FormatError(f"unknown PZF quantization code {quant}; expected 0 (none) or 1 (sqrt)") from None
    order: Literal["C", "F"]
    if version < 2 or dim == b"C":
        order = "C"
    elif dim == b"F":
        order = "F"
    else:
        raise FormatError(f"invalid PZF DimOrder {dim!r}; expected 'C' or 'F'")
    if version >= 3:
        if len(buf) < HEADER_SIZE:
            raise FormatError(f"truncated PZF v3 header: {len(buf)} bytes, expected at least {HEADER_SIZE}")
        (offset,) = _DATA_OFFSET.unpack_from(buf, 48)
        if not HEADER_SIZE <= offset <= len(buf):
            raise FormatError(f"invalid PZF DataOffset {offset} for a {len(buf)}-byte blob")
    else:
        offset = _HEADER_SIZE_V2
    if quantization == Quantization.SQRT and not (np.isfinite(qscale) and np.isfinite(qoff)):
        raise FormatError(f"invalid PZF quantization parameters offset={qoff}, scale={qscale}")
    return PZFHeader(
        version=version, dtype=_DTYPES[fmt], compression=compression, quantization=quantization,
        dim_order=order, sequence_id=seq, frame_num=fnum, width=w, height=h, depth=d, frame_timestamp=ts,
        quant_offset=qoff, quant_scale=qscale, data_offset=offset,
    )  # fmt: skip


def decode(data: bytes | bytearray | memoryview) -> tuple[np.ndarray, PZFHeader]:
    """Decode a PZF blob.

    Parameters
    ----------
    data : bytes-like
        The whole blob (header and payload).

    Returns
    -------
    array : ndarray of shape ``header.shape``
        The frame, in the blob's memory order (``'F'`` frames come back F-contiguous). A raw, unquantized frame is a
        read-only view of ``data`` when ``data`` is immutable; otherwise the array is new.
    header : PZFHeader

    Raises
    ------
    FormatError
        Anything malformed: header (see :func:`decode_header`), truncated or oversized payload, corrupt Huffman or
        blosc2 stream, or an unknown compression code.
    """
    header = decode_header(data)
    _check_payload_size(data, header)
    out = np.empty(header.shape, header.dtype, order=header.dim_order)
    raw_view = _decode_payload(data, header, out)
    if raw_view is not None:
        return raw_view, header
    return out, header


def decode_into(data: bytes | bytearray | memoryview, out: np.ndarray) -> PZFHeader:
    """Decode a PZF blob into a preallocated array (no intermediate copy of the pixels).

    ``out`` must have the frame's dtype and shape (``header.shape``, or the 3-D ``(W, H, D)`` form) and be contiguous
    in the blob's order (C or F); use :func:`decode_header` to allocate it.

    Raises
    ------
    FormatError
        As :func:`decode`.
    ValueError
        ``out`` has the wrong dtype, shape or layout.
    """
    header = decode_header(data)
    _check_payload_size(data, header)
    if out.dtype != header.dtype:
        raise ValueError(f"out has dtype {out.dtype}, the frame is {header.dtype}")
    if out.shape not in (header.shape, (header.width, header.height, header.depth)):
        raise ValueError(f"out has shape {out.shape}, the frame is {header.shape}")
    contiguous = out.flags.f_contiguous if header.dim_order == "F" else out.flags.c_contiguous
    if not (contiguous and out.flags.writeable):
        raise ValueError(f"out must be a writeable, {header.dim_order}-contiguous array")
    raw_view = _decode_payload(data, header, out)
    if raw_view is not None:
        out[...] = raw_view.reshape(out.shape, order=header.dim_order)
    return header


def _check_payload_size(data: bytes | bytearray | memoryview, header: PZFHeader) -> None:
    """Reject a header whose frame size cannot come from this payload, before anything is allocated."""
    payload_len = memoryview(data).nbytes - header.data_offset
    nbytes = header.size * (1 if header.quantization == Quantization.SQRT else header.dtype.itemsize)
    comp = header.compression
    if comp == Compression.RAW:
        limit = payload_len
    elif comp == Compression.BLOSC2:
        import blosc2

        try:
            limit = blosc2.get_cbuffer_sizes(np.frombuffer(data, np.uint8, offset=header.data_offset))[0]
        except Exception as exc:  # blosc2 raises bare RuntimeError/ValueError on garbage
            raise FormatError(f"corrupt PZF blosc2 payload: {exc}") from exc
    else:
        # Every Huffman-coded byte costs at least one bit (BCL's one-symbol case writes one 0 bit per byte).
        limit = 8 * payload_len
    if nbytes > limit:
        raise FormatError(
            f"PZF header claims a {header.shape} {header.dtype} frame ({nbytes} bytes) that a "
            f"{payload_len}-byte {comp.name.lower()} payload cannot hold: the blob is truncated or corrupt"
        )


def _decode_payload(data: bytes | bytearray | memoryview, header: PZFHeader, out: np.ndarray) -> np.ndarray | None:
    """Decode the payload into ``out``; for a raw unquantized frame return a view of ``data`` instead."""
    payload = np.frombuffer(data, np.uint8, offset=header.data_offset)
    n = header.size
    quantized = header.quantization == Quantization.SQRT
    nbytes = n if quantized else n * header.dtype.itemsize
    comp = header.compression
    if comp == Compression.RAW:
        if payload.shape[0] != nbytes:
            hint = " (PYME writes raw+quantized frames unquantized: such frames are unreadable)" if quantized else ""
            raise FormatError(f"PZF raw payload is {payload.shape[0]} bytes, expected {nbytes}{hint}")
        if not quantized:
            view = payload.view(header.dtype).reshape(header.shape, order=header.dim_order)
            # Never alias a caller's mutable buffer.
            return view.copy(order="K") if view.flags.writeable else view
        symbols = payload
    else:
        target = np.empty(n, np.uint8) if quantized else out.reshape(-1, order="A").view(np.uint8)
        if comp == Compression.HUFFMAN:
            status = _huffman.huffman_decode(payload, target)
            if status != _huffman.STATUS_OK:
                raise FormatError(f"corrupt PZF Huffman payload ({_STATUS_TEXT.get(status, status)})")
        elif comp == Compression.HUFFMAN_CHUNKED:
            _decode_chunked(payload, target)
        else:
            _blosc2_decompress(payload, target)
        if not quantized:
            return None
        symbols = target
    flat_out = out.reshape(-1, order="A")
    info = np.finfo(out.dtype) if out.dtype.kind == "f" else np.iinfo(out.dtype)
    _quant.sqrt_dequantize(symbols, header.quant_offset, header.quant_scale, float(info.min), float(info.max), flat_out)
    return None


_STATUS_TEXT = {
    _huffman.STATUS_TREE_TRUNCATED: "the code tree is truncated",
    _huffman.STATUS_TREE_INVALID: "the code tree is invalid",
    _huffman.STATUS_DATA_TRUNCATED: "the data ends before every pixel was decoded",
}


def _decode_chunked(payload: np.ndarray, target: np.ndarray) -> None:
    # u16 nchunks, then per chunk u32 compressed_len, u32 raw_len, compressed bytes (storage-protocol §2.2).
    if payload.shape[0] < 2:
        raise FormatError("truncated PZF chunked-Huffman payload: no chunk count")
    nchunks = int(payload[:2].view("<u2")[0])
    pos = 2
    written = 0
    for k in range(nchunks):
        if pos + 8 > payload.shape[0]:
            raise FormatError(f"truncated PZF chunked-Huffman payload in the header of chunk {k}")
        clen, rlen = (int(v) for v in payload[pos : pos + 8].view("<u4"))
        pos += 8
        if pos + clen > payload.shape[0] or written + rlen > target.shape[0]:
            raise FormatError(f"PZF chunk {k} overruns the payload or the frame ({clen} -> {rlen} bytes)")
        status = _huffman.huffman_decode(payload[pos : pos + clen], target[written : written + rlen])
        if status != _huffman.STATUS_OK:
            raise FormatError(f"corrupt PZF chunked-Huffman chunk {k} ({_STATUS_TEXT.get(status, status)})")
        pos += clen
        written += rlen
    if written != target.shape[0]:
        raise FormatError(f"PZF chunked-Huffman chunks hold {written} bytes, the frame needs {target.shape[0]}")


def _blosc2_decompress(payload: np.ndarray, target: np.ndarray) -> None:
    import blosc2

    try:
        nbytes, cbytes, _blocksize = blosc2.get_cbuffer_sizes(payload)
    except Exception as exc:  # blosc2 raises bare RuntimeError/ValueError on garbage
        raise FormatError(f"corrupt PZF blosc2 payload: {exc}") from exc
    if nbytes != target.shape[0] or cbytes != payload.shape[0]:
        raise FormatError(
            f"PZF blosc2 payload holds {nbytes} bytes in {cbytes} (blob has {payload.shape[0]}), "
            f"the frame needs {target.shape[0]}: truncated or corrupt"
        )
    if nbytes == 0:
        return
    try:
        blosc2.decompress2(payload, dst=target)
    except Exception as exc:
        raise FormatError(f"corrupt PZF blosc2 payload: {exc}") from exc
