"""Small dense linear algebra for the per-ROI numba kernels (at most 7 unknowns, no allocation)."""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def cholesky_inplace(a: np.ndarray, n: int) -> bool:
    """Overwrite the lower triangle of ``a[:n, :n]`` (symmetric, lower triangle filled) with its Cholesky factor.

    Returns False when the matrix is not positive definite.
    """
    for j in range(n):
        s = a[j, j]
        for k in range(j):
            s -= a[j, k] * a[j, k]
        if not s > 0.0:
            return False
        d = math.sqrt(s)
        a[j, j] = d
        for i in range(j + 1, n):
            s = a[i, j]
            for k in range(j):
                s -= a[i, k] * a[j, k]
            a[i, j] = s / d
    return True


@numba.njit(cache=True, nogil=True)
def cholesky_solve(low: np.ndarray, b: np.ndarray, x: np.ndarray, n: int) -> None:
    """Solve ``L Lᵀ x = b`` for the factor ``low`` from :func:`cholesky_inplace`."""
    for i in range(n):
        s = b[i]
        for k in range(i):
            s -= low[i, k] * x[k]
        x[i] = s / low[i, i]
    for i in range(n - 1, -1, -1):
        s = x[i]
        for k in range(i + 1, n):
            s -= low[k, i] * x[k]
        x[i] = s / low[i, i]


@numba.njit(cache=True, nogil=True)
def inverse_diagonal(low: np.ndarray, out: np.ndarray, work: np.ndarray, n: int) -> None:
    """Diagonal of ``(L Lᵀ)⁻¹`` into ``out[:n]``, solving for one unit vector at a time (``work`` holds ≥ 2n)."""
    e = work[:n]
    x = work[n : 2 * n]
    for c in range(n):
        for i in range(n):
            e[i] = 0.0
        e[c] = 1.0
        cholesky_solve(low, e, x, n)
        out[c] = x[c]


@numba.njit(cache=True, nogil=True)
def inverse_entry(low: np.ndarray, r: int, c: int, work: np.ndarray, n: int) -> float:
    """One entry ``(L Lᵀ)⁻¹[r, c]``."""
    e = work[:n]
    x = work[n : 2 * n]
    for i in range(n):
        e[i] = 0.0
    e[c] = 1.0
    cholesky_solve(low, e, x, n)
    return x[r]
