"""The pixel-integrated Gaussian PSF along one axis, with its derivatives (numba).

The 2-D model is separable, ``PSF(i, j) = E_y[i] · E_x[j]``, so a fit evaluates n + 1 erf/exp pairs per axis per
iteration instead of four per pixel. Pixel ``j`` spans ``[j, j + 1)``; its centre is ``j + 0.5``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


@numba.njit(cache=True, nogil=True)
def integrated_gaussian_1d(x0: float, sigma: float, n: int, e: np.ndarray, de: np.ndarray, ds: np.ndarray) -> None:
    """Fill ``e[j]`` (fraction of a unit Gaussian at ``x0`` in pixel j), ``de = ∂e/∂x0`` and ``ds = ∂e/∂σ``."""
    inv = 1.0 / (_SQRT2 * sigma)
    inv2s2 = 0.5 / (sigma * sigma)
    norm = 1.0 / (_SQRT2PI * sigma)
    t_prev = -x0
    erf_prev = math.erf(t_prev * inv)
    g_prev = math.exp(-t_prev * t_prev * inv2s2) * norm
    for j in range(n):
        t = j + 1.0 - x0
        erf_cur = math.erf(t * inv)
        g_cur = math.exp(-t * t * inv2s2) * norm
        e[j] = 0.5 * (erf_cur - erf_prev)
        de[j] = g_prev - g_cur
        ds[j] = (t_prev * g_prev - t * g_cur) / sigma
        t_prev = t
        erf_prev = erf_cur
        g_prev = g_cur
