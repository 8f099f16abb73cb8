"""PZF codec: §2.3 vectors byte for byte, property round trips, quantization bounds, and corrupt input handling."""

from __future__ import annotations

import contextlib
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from photonflow.errors import FormatError
from photonflow.formats import pzf
from photonflow.formats._huffman import huffman_decode, huffman_encode

VEC_RAW = bytes.fromhex(
    "4244030100004300"
    "8877665544332211"
    "05000000" "02000000" "03000000" "01000000"
    "6300000000000000" "00000000" "00000000" "40000000" "000000000000000000000000"
    "010002000300040005000600"
)  # fmt: skip
VEC_U8 = np.array([5, 6, 2, 0, 7, 3, 3, 1, 6, 1, 3, 3, 2, 2, 2, 2, 3, 3, 3, 1], np.uint8).reshape(4, 5)
VEC_U8_PAYLOAD = bytes.fromhex("2028320083c150281bd4cef11f55f8")

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _v3_header(*, fmt: int, comp: int, quant: int = 0, w: int, h: int, d: int = 1, order: bytes = b"C",
               qoff: float = 0.0, qscale: float = 0.0) -> bytes:  # fmt: skip
    head = struct.pack("<2sBBBBcxqIIIIQff", b"BD", 3, fmt, comp, quant, order, 0, 0, w, h, d, 0, qoff, qscale)
    return head + struct.pack("<I", 64) + bytes(12)


# -- test vectors (storage-protocol §2.3) ----------------------------------------------------------------------------
def test_raw_vector_encodes_byte_for_byte() -> None:
    a = np.array([[1, 2, 3], [4, 5, 6]], np.uint16)
    blob = pzf.encode(a, compression="raw", sequence_id=0x1122334455667788, frame_num=5, frame_timestamp=99)
    assert blob == VEC_RAW
    assert len(blob) == 76


def test_raw_vector_f_order() -> None:
    a = np.asfortranarray(np.array([[1, 2, 3], [4, 5, 6]], np.uint16))
    blob = pzf.encode(a, compression="raw", sequence_id=0x1122334455667788, frame_num=5, frame_timestamp=99)
    assert blob[6:7] == b"F"
    assert blob[64:] == bytes.fromhex("010004000200050003000600")
    assert blob[:6] + blob[7:64] == VEC_RAW[:6] + VEC_RAW[7:64]
    data, header = pzf.decode(blob)
    assert header.dim_order == "F" and data.flags.f_contiguous
    np.testing.assert_array_equal(data, a)


def test_raw_vector_decodes() -> None:
    data, h = pzf.decode(VEC_RAW)
    np.testing.assert_array_equal(data, [[1, 2, 3], [4, 5, 6]])
    assert data.dtype == np.uint16
    assert (h.version, h.sequence_id, h.frame_num, h.frame_timestamp) == (3, 0x1122334455667788, 5, 99)
    assert (h.width, h.height, h.depth, h.data_offset) == (2, 3, 1, 64)


def test_huffman_u8_vector_byte_for_byte() -> None:
    blob = pzf.encode(VEC_U8)
    assert len(blob) == 79
    assert blob[:8] == bytes.fromhex("4244030001004300")
    assert blob[64:] == VEC_U8_PAYLOAD
    data, h = pzf.decode(blob)
    np.testing.assert_array_equal(data, VEC_U8)
    assert h.compression == pzf.Compression.HUFFMAN


def test_huffman_vector_from_spec_header() -> None:
    blob = _v3_header(fmt=0, comp=1, w=4, h=5) + VEC_U8_PAYLOAD
    data, _ = pzf.decode(blob)
    np.testing.assert_array_equal(data, VEC_U8)


def test_single_symbol_huffman_vector() -> None:
    blob = pzf.encode(np.full((3, 3), 7, np.uint8))
    assert blob[64:] == bytes.fromhex("838000")
    data, _ = pzf.decode(_v3_header(fmt=0, comp=1, w=3, h=3) + bytes.fromhex("838000"))
    np.testing.assert_array_equal(data, np.full((3, 3), 7))


def test_version_1_and_2_headers_are_read() -> None:
    a = np.arange(6, dtype=np.uint16).reshape(2, 3)
    v3 = pzf.encode(a, compression="raw")
    for version in (1, 2):
        old = v3[:2] + bytes([version]) + v3[3:48] + v3[64:]
        data, h = pzf.decode(old)
        assert h.version == version and h.data_offset == 48
        np.testing.assert_array_equal(data, a)
    # version 1 has no DimOrder: a stray byte there is ignored, and the payload is C order
    v1 = v3[:2] + b"\x01" + v3[3:6] + b"\x00" + v3[7:48] + v3[64:]
    np.testing.assert_array_equal(pzf.decode(v1)[0], a)


# -- property round trips --------------------------------------------------------------------------------------------
_dims = st.sampled_from([1, 2, 3, 5, 7, 13, 31, 64])


@st.composite
def _frames(draw: st.DrawFn) -> np.ndarray:
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32]))
    ndim = draw(st.sampled_from([2, 2, 3]))
    shape = tuple(draw(_dims) for _ in range(ndim))
    if dtype is np.float32:
        elements = st.floats(width=32, allow_nan=True, allow_infinity=True)
    else:
        elements = st.integers(0, np.iinfo(dtype).max)
    arr = draw(hnp.arrays(dtype, shape, elements=elements))
    if draw(st.booleans()):
        arr = np.asfortranarray(arr)
    return arr


@FAST
@given(arr=_frames(), comp=st.sampled_from(["raw", "huffman", "blosc2"]), frame_num=st.integers(0, 2**32 - 1))
def test_round_trip_every_dtype_order_codec(arr: np.ndarray, comp: str, frame_num: int) -> None:
    blob = pzf.encode(arr, compression=comp, frame_num=frame_num, sequence_id=-5)
    data, h = pzf.decode(blob)
    expected_shape = arr.shape[:2] if arr.ndim == 3 and arr.shape[2] == 1 else arr.shape
    assert data.shape == expected_shape and data.dtype == arr.dtype
    assert h.frame_num == frame_num and h.sequence_id == -5
    # bit-exact, NaN payloads included
    assert data.reshape(arr.shape).tobytes(order="A") == arr.tobytes(order="A")
    assert h.dim_order == ("F" if arr.flags.f_contiguous and not arr.flags.c_contiguous else "C")
    out = np.empty(arr.shape, arr.dtype, order=h.dim_order)
    pzf.decode_into(blob, out)
    np.testing.assert_array_equal(out, arr)


def test_forced_order_and_non_contiguous_input() -> None:
    a = np.arange(35, dtype=np.uint16).reshape(5, 7)
    for order in ("C", "F"):
        data, h = pzf.decode(pzf.encode(a[:, ::2], order=order))
        assert h.dim_order == order
        np.testing.assert_array_equal(data, a[:, ::2])


def test_big_endian_input_is_stored_little_endian() -> None:
    a = np.arange(12, dtype=">u2").reshape(3, 4)
    assert pzf.encode(a, compression="raw") == pzf.encode(a.astype("<u2"), compression="raw")


@FAST
@given(data=st.binary(min_size=1, max_size=3000))
def test_huffman_kernel_round_trip(data: bytes) -> None:
    src = np.frombuffer(data, np.uint8)
    enc = huffman_encode(src)
    out = np.empty_like(src)
    assert huffman_decode(enc, out) == 0
    assert out.tobytes() == data


def test_huffman_skewed_histogram_long_codes() -> None:
    # Fibonacci-like counts give a maximally deep Huffman tree: codes beyond the lookup table's bits and beyond
    # the writer's 32-bit limit (forcing the flattened rebuild).
    counts = [1, 1]
    while len(counts) < 40:
        counts.append(counts[-1] + counts[-2])
    data = np.repeat(np.arange(40, dtype=np.uint8), counts[:40])
    np.random.default_rng(0).shuffle(data)
    enc = huffman_encode(data)
    out = np.empty_like(data)
    assert huffman_decode(enc, out) == 0
    np.testing.assert_array_equal(out, data)


# -- quantization ----------------------------------------------------------------------------------------------------
@FAST
@given(
    arr=hnp.arrays(np.uint16, st.tuples(_dims, _dims), elements=st.integers(0, 65535)),
    offset=st.floats(0, 200),
    scale=st.floats(0.05, 20),
    comp=st.sampled_from(["huffman", "blosc2"]),
)
def test_sqrt_quantization_error_bound(arr: np.ndarray, offset: float, scale: float, comp: str) -> None:
    blob = pzf.encode(arr, compression=comp, quantization=pzf.SqrtQuantization(offset, scale))
    data, h = pzf.decode(blob)
    assert h.quantization == pzf.Quantization.SQRT and data.dtype == np.uint16
    o, s = np.float32(offset), np.float32(scale)
    x = arr.astype(np.float64)
    root = np.sqrt(np.maximum(x - o, 0))
    saturated = root / s >= 255.5
    dec_root = np.sqrt(np.maximum(data.astype(np.float64) - o, 0))
    # Below the offset everything collapses onto the offset (the documented clipping caveat).
    below = x <= o
    assert np.all(np.abs(data[below].astype(np.float64) - np.floor(o)) <= 1)
    # Elsewhere, in the sqrt domain the error is at most half a step, plus the truncation of the decoded value.
    ok = ~below & ~saturated
    tol = s / 2 + 1.0 / np.maximum(2 * dec_root[ok], 1) + 1e-3
    assert np.all(np.abs(root[ok] - dec_root[ok]) <= tol)
    assert np.all(data[saturated] >= np.floor(min((255 * s) ** 2 + o, 65535)) - 1)


def test_dequantization_matches_pyme_truncation() -> None:
    # decode v = trunc((q*s)^2 + o) computed in float32 (storage-protocol §2.2)
    q = np.arange(256, dtype=np.uint8).reshape(16, 16)
    s, o = np.float32(0.7), np.float32(100.25)
    from photonflow.formats._huffman import huffman_encode as enc

    blob = _v3_header(fmt=1, comp=1, quant=1, w=16, h=16, qoff=float(o), qscale=float(s)) + enc(q.ravel()).tobytes()
    data, _ = pzf.decode(blob)
    expected = ((q.astype(np.float32) * s) ** 2 + o).astype(np.uint16)
    np.testing.assert_array_equal(data, expected)


def test_quantization_needs_uint16_and_huffman() -> None:
    with pytest.raises(ValueError, match="uint16"):
        pzf.encode(np.zeros((2, 2), np.uint8), quantization=(0, 1))
    with pytest.raises(ValueError, match="huffman"):
        pzf.encode(np.zeros((2, 2), np.uint16), compression="raw", quantization=(0, 1))
    with pytest.raises(ValueError, match="scale"):
        pzf.SqrtQuantization(0, 0)


def test_pyme_raw_quantized_frame_is_refused_clearly() -> None:
    # PYME's raw writer sets the quantization flag but stores the uint16 data unquantized.
    a = np.arange(16, dtype=np.uint16).reshape(4, 4)
    blob = _v3_header(fmt=1, comp=0, quant=1, w=4, h=4, qoff=0, qscale=1) + a.tobytes()
    with pytest.raises(FormatError, match="unreadable"):
        pzf.decode(blob)


# -- encode argument validation --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arr", "kwargs", "exc"),
    [
        (np.zeros((2, 2), np.int32), {}, TypeError),
        (np.zeros(4, np.uint8), {}, ValueError),
        (np.zeros((0, 3), np.uint8), {}, ValueError),
        (np.zeros((2, 2), np.uint8), {"compression": "lzma"}, ValueError),
        (np.zeros((2, 2), np.uint8), {"compression": 2}, ValueError),
        (np.zeros((2, 2), np.uint8), {"frame_num": -1}, ValueError),
        (np.zeros((2, 2), np.uint8), {"order": "X"}, ValueError),
    ],
)
def test_encode_rejects_bad_arguments(arr: np.ndarray, kwargs: dict, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        pzf.encode(arr, **kwargs)


# -- malformed input -------------------------------------------------------------------------------------------------
def test_wrong_magic_version_and_codes() -> None:
    good = bytearray(pzf.encode(VEC_U8))
    cases = {
        "magic": (0, b"XX"),
        "version 4": (2, b"\x04"),
        "version 0": (2, b"\x00"),
        "DataFormat": (3, b"\x07"),
        "compression code 9": (4, b"\x09"),
        "quantization code": (5, b"\x05"),
        "DimOrder": (6, b"Z"),
        "DataOffset": (48, struct.pack("<I", 10_000)),
    }
    for label, (at, patch) in cases.items():
        bad = bytearray(good)
        bad[at : at + len(patch)] = patch
        with pytest.raises(FormatError) as info:
            pzf.decode(bytes(bad))
        assert str(info.value), label
    with pytest.raises(FormatError, match="unknown PZF compression code 9"):
        bad = bytearray(good)
        bad[4] = 9
        pzf.decode(bytes(bad))


@pytest.mark.parametrize("comp", ["raw", "huffman", "blosc2"])
def test_every_truncation_raises_format_error(comp: str) -> None:
    frame = (np.random.default_rng(3).poisson(30, (24, 20)) + 100).astype(np.uint16)
    blob = pzf.encode(frame, compression=comp)
    for cut in range(len(blob)):
        with pytest.raises(FormatError):
            pzf.decode(blob[:cut])


def test_oversized_dimensions_rejected_before_allocation() -> None:
    blob = _v3_header(fmt=1, comp=1, w=2**31, h=2**31, d=2**31) + VEC_U8_PAYLOAD
    with pytest.raises(FormatError, match="cannot hold"):
        pzf.decode(blob)


def test_decode_into_checks_out() -> None:
    blob = pzf.encode(np.zeros((4, 6), np.uint16))
    with pytest.raises(ValueError, match="dtype"):
        pzf.decode_into(blob, np.empty((4, 6), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        pzf.decode_into(blob, np.empty((6, 4), np.uint16))
    with pytest.raises(ValueError, match="contiguous"):
        pzf.decode_into(blob, np.empty((4, 6), np.uint16, order="F"))


def test_raw_decode_never_aliases_a_mutable_buffer() -> None:
    buf = bytearray(pzf.encode(np.ones((3, 3), np.uint8), compression="raw"))
    data, _ = pzf.decode(buf)
    buf[64] = 9
    assert data[0, 0] == 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=200))
def test_fuzz_random_bytes_only_format_error(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        pzf.decode(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.integers(0, 2),
    comp=st.sampled_from([0, 1, 2, 16]),
    quant=st.integers(0, 1),
    w=st.integers(0, 40),
    h=st.integers(0, 40),
    payload=st.binary(max_size=400),
)
def test_fuzz_valid_header_random_payload_only_format_error(
    fmt: int, comp: int, quant: int, w: int, h: int, payload: bytes
) -> None:
    blob = _v3_header(fmt=fmt, comp=comp, quant=quant, w=w, h=h, qoff=1.0, qscale=0.5) + payload
    try:
        data, header = pzf.decode(blob)
    except FormatError:
        return
    assert data.shape == header.shape


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=8),
       comp=st.sampled_from(["huffman", "blosc2"]))  # fmt: skip
def test_fuzz_corrupted_real_frames_only_format_error(flips: list[tuple[int, int]], comp: str) -> None:
    frame = (np.arange(40 * 30, dtype=np.uint16).reshape(40, 30) % 97) + 100
    blob = bytearray(pzf.encode(frame, compression=comp))
    for pos, x in flips:
        blob[pos % len(blob)] ^= x
    try:
        data, header = pzf.decode(bytes(blob))
    except FormatError:
        return
    assert data.shape == header.shape


# -- against PYME's own C codec, when it is installed (benchmark-only peer, not a project dependency) ---------------
def test_matches_pymecompress_when_installed() -> None:
    bcl = pytest.importorskip("pymecompress.bcl")
    rng = np.random.default_rng(11)
    frame = (rng.poisson(20, (256, 256)) / 0.45 + rng.normal(100, 2, (256, 256))).astype(np.uint16)
    raw = frame.view(np.uint8).ravel()
    theirs = np.asarray(bcl.HuffmanCompress(raw))
    assert huffman_encode(raw).tobytes() == theirs.tobytes()  # same tree, same codes, same bytes
    out = np.empty_like(raw)
    assert huffman_decode(theirs, out) == 0
    np.testing.assert_array_equal(out, raw)
    q_theirs = np.empty(frame.size, np.uint8)
    assert huffman_decode(np.asarray(bcl.HuffmanCompressQuant(frame.ravel(), 100.0, 1.11)), q_theirs) == 0
    from photonflow.formats._quant import sqrt_quantize

    q_ours = np.empty(frame.size, np.uint8)
    sqrt_quantize(frame.ravel(), 100.0, 1.11, q_ours)
    assert np.abs(q_ours.astype(int) - q_theirs).max() <= 1
    assert np.mean(q_ours != q_theirs) < 1e-3
