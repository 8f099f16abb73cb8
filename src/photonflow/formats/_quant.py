"""Numba kernels for PZF square-root quantization (one uint8 symbol per pixel).

Encode: ``q = min(floor(sqrt(max(v - offset, 0)) / scale + 0.5), 255)`` in float32.
Decode: ``v = trunc((q * scale) ** 2 + offset)`` in float32, clipped to the output type's range.

PYME's decoder is the reference for the decode side (truncation toward zero, float32). On the encode side pymecompress
0.3.6 (PYME's C codec) also rounds to nearest; measured here, its symbols equal ours except for ~0.03 % of pixels that
sit on a rounding boundary, where its approximate AVX ``rsqrt`` lands on the other side. Any symbol is valid for
either decoder.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def sqrt_quantize(data: np.ndarray, offset: float, scale: float, out: np.ndarray) -> None:
    """Quantize the flat array ``data`` (uint8/uint16) into ``out`` (uint8, same length)."""
    o = np.float32(offset)
    inv = np.float32(1.0) / np.float32(scale)
    half = np.float32(0.5)
    for i in range(data.shape[0]):
        d = np.float32(data[i]) - o
        if d <= 0:
            out[i] = 0
        else:
            q = math.floor(math.sqrt(d) * inv + half)
            out[i] = 255 if q > 255 else np.uint8(q)


@numba.njit(cache=True, nogil=True)
def sqrt_dequantize(q: np.ndarray, offset: float, scale: float, lo: float, hi: float, out: np.ndarray) -> None:
    """Undo :func:`sqrt_quantize` into ``out`` (any numeric type), clipping to ``[lo, hi]`` before conversion."""
    o = np.float32(offset)
    s = np.float32(scale)
    flo = np.float32(lo)
    fhi = np.float32(hi)
    for i in range(q.shape[0]):
        t = np.float32(q[i]) * s
        v = t * t + o
        if v < flo:
            v = flo
        elif v > fhi:
            v = fhi
        out[i] = v
