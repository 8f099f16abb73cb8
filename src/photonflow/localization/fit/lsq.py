"""Weighted least-squares Gaussian fits of many ROIs: PYME's ``LatGaussFitFR`` model, for comparable output.

The model (compute.md §3.2 step 7) on ROI pixel centres (X, Y) = (j + 0.5, i + 0.5) is::

    M = A · exp(−((X − x0)² + (Y − y0)²) / (2 s²)) + b + bx · (X − x0) + by · (Y − y0)

fitted to background-subtracted data with weights 1/σ_pixel by Levenberg–Marquardt with the analytic Jacobian.
Errors are ``sqrt(diag(cov) · χ²_red)`` as PYME reports them; photons are ``2π A s²``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from numba import prange

from photonflow.errors import AnalysisError
from photonflow.localization.fit._linalg import cholesky_inplace, cholesky_solve, inverse_diagonal, inverse_entry

__all__ = ["PARAMS", "LSQResult", "fit_lsq"]

PARAMS = ("A", "x", "y", "sigma", "b", "bx", "by")
_NP = 7


@dataclass(frozen=True)
class LSQResult:
    """Per-ROI outputs of :func:`fit_lsq` (n = number of ROIs).

    Attributes
    ----------
    params : ndarray of shape (n, 7), float32
        A (photons/pixel at the peak), x, y (ROI pixels), sigma (pixels), b, bx, by.
    errors : ndarray of shape (n, 7), float32
        1-σ errors scaled by the reduced χ² (NaN where the covariance is singular).
    photons, photons_err : ndarray of shape (n,), float32
        ``2π A s²`` and its propagated error.
    chi2 : ndarray of shape (n,), float32
        Reduced χ² of the weighted residuals.
    iterations : ndarray of shape (n,), int16
    converged : ndarray of shape (n,), bool
    """

    params: np.ndarray
    errors: np.ndarray
    photons: np.ndarray
    photons_err: np.ndarray
    chi2: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


@numba.njit(cache=True, nogil=True)
def _evaluate(
    roi: np.ndarray, w2: np.ndarray, p: np.ndarray, jac: np.ndarray, alpha: np.ndarray, beta: np.ndarray
) -> float:
    nr, nc = roi.shape
    for k in range(_NP):
        beta[k] = 0.0
        for m in range(k + 1):
            alpha[k, m] = 0.0
    amp, x0, y0, s, b, bx, by = p[0], p[1], p[2], p[3], p[4], p[5], p[6]
    inv_s2 = 1.0 / (s * s)
    chi2 = 0.0
    for i in range(nr):
        dy = i + 0.5 - y0
        for j in range(nc):
            dx = j + 0.5 - x0
            r2 = dx * dx + dy * dy
            g = math.exp(-0.5 * r2 * inv_s2)
            ag = amp * g
            model = ag + b + bx * dx + by * dy
            wt = w2[i, j]
            res = roi[i, j] - model
            chi2 += wt * res * res
            jac[0] = g
            jac[1] = ag * dx * inv_s2 - bx
            jac[2] = ag * dy * inv_s2 - by
            jac[3] = ag * r2 * inv_s2 / s
            jac[4] = 1.0
            jac[5] = dx
            jac[6] = dy
            for k in range(_NP):
                jw = jac[k] * wt
                beta[k] += jw * res
                for m in range(k + 1):
                    alpha[k, m] += jw * jac[m]
    return chi2


@numba.njit(cache=True, nogil=True)
def _initial(roi: np.ndarray, start: np.ndarray, sigma0: float, p: np.ndarray) -> None:
    nr, nc = roi.shape
    lo = roi[0, 0]
    hi = roi[0, 0]
    for i in range(nr):
        for j in range(nc):
            lo = min(lo, roi[i, j])
            hi = max(hi, roi[i, j])
    p[0] = max(hi - lo, 1e-3)
    p[1] = start[0]
    p[2] = start[1]
    p[3] = sigma0
    p[4] = lo
    p[5] = 0.0
    p[6] = 0.0


@numba.njit(parallel=True, cache=True, nogil=True)
def _fit_batch(
    rois: np.ndarray,
    w2s: np.ndarray,
    starts: np.ndarray,
    sigma0: np.ndarray,
    max_iter: int,
    tol: float,
    nchunks: int,
    out_params: np.ndarray,
    out_err: np.ndarray,
    out_photons: np.ndarray,
    out_photons_err: np.ndarray,
    out_chi2: np.ndarray,
    out_iter: np.ndarray,
    out_conv: np.ndarray,
) -> None:
    n, nr, nc = rois.shape
    dof = max(nr * nc - _NP, 1)
    for c in prange(nchunks):
        p = np.empty(_NP)
        trial = np.empty(_NP)
        delta = np.empty(_NP)
        jac = np.empty(_NP)
        beta = np.empty(_NP)
        beta_t = np.empty(_NP)
        alpha = np.zeros((_NP, _NP))
        alpha_t = np.zeros((_NP, _NP))
        lhs = np.zeros((_NP, _NP))
        diag = np.empty(_NP)
        work = np.empty(2 * _NP)
        for r in range(c * n // nchunks, (c + 1) * n // nchunks):
            roi = rois[r]
            w2 = w2s[r]
            _initial(roi, starts[r], sigma0[r], p)
            chi2 = _evaluate(roi, w2, p, jac, alpha, beta)
            lam = 1e-3
            conv = False
            it = 0
            while it < max_iter:
                it += 1
                for k in range(_NP):
                    for m in range(k + 1):
                        lhs[k, m] = alpha[k, m]
                    lhs[k, k] = alpha[k, k] * (1.0 + lam) + 1e-12
                if not cholesky_inplace(lhs, _NP):
                    break
                cholesky_solve(lhs, beta, delta, _NP)
                for k in range(_NP):
                    trial[k] = p[k] + delta[k]
                chi2_t = _evaluate(roi, w2, trial, jac, alpha_t, beta_t)
                if chi2_t <= chi2:
                    small = abs(delta[1]) < tol and abs(delta[2]) < tol and abs(delta[3]) < tol
                    for k in range(_NP):
                        p[k] = trial[k]
                        beta[k] = beta_t[k]
                        for m in range(k + 1):
                            alpha[k, m] = alpha_t[k, m]
                    chi2 = chi2_t
                    lam = max(lam * 0.1, 1e-7)
                    if small:
                        conv = True
                        break
                else:
                    lam *= 10.0
                    if lam > 1e6:
                        conv = True
                        break
            chi2 = _evaluate(roi, w2, p, jac, alpha, beta)
            red = chi2 / dof
            for k in range(_NP):
                for m in range(k + 1):
                    lhs[k, m] = alpha[k, m]
            amp, s = p[0], abs(p[3])
            photons = 2.0 * math.pi * amp * s * s
            if cholesky_inplace(lhs, _NP):
                inverse_diagonal(lhs, diag, work, _NP)
                cov_as = inverse_entry(lhs, 0, 3, work, _NP)
                g_a = 2.0 * math.pi * s * s
                g_s = 4.0 * math.pi * amp * s
                var_ph = (g_a * g_a * diag[0] + g_s * g_s * diag[3] + 2.0 * g_a * g_s * cov_as) * red
                out_photons_err[r] = math.sqrt(max(var_ph, 0.0))
                for k in range(_NP):
                    out_err[r, k] = math.sqrt(max(diag[k] * red, 0.0))
            else:
                conv = False
                out_photons_err[r] = np.nan
                for k in range(_NP):
                    out_err[r, k] = np.nan
            for k in range(_NP):
                out_params[r, k] = p[k]
            out_params[r, 3] = s
            out_photons[r] = photons
            out_chi2[r] = red
            out_iter[r] = it
            inside = -0.5 <= p[1] <= nc + 0.5 and -0.5 <= p[2] <= nr + 0.5
            out_conv[r] = conv and inside and amp > 0


def fit_lsq(
    rois: np.ndarray,
    weights: np.ndarray,
    *,
    sigma: float | np.ndarray = 1.3,
    starts: np.ndarray | None = None,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> LSQResult:
    """Fit PYME's 7-parameter Gaussian model to every ROI by weighted least squares.

    Parameters
    ----------
    rois : ndarray of shape (n, h, w)
        Background-subtracted data (photoelectrons).
    weights : ndarray of shape (n, h, w)
        Per-pixel weights 1/σ (the residual is ``(d − M) · weight``).
    sigma : float or ndarray of shape (n,)
        Start value of the Gaussian σ, pixels.
    starts : ndarray of shape (n, 2), optional
        Start (x, y) in ROI pixels (PYME uses the detection centroid); default the ROI centre.
    max_iter, tol : int, float
        LM iteration limit and convergence tolerance on x, y, σ steps (pixels).
    """
    rois = np.ascontiguousarray(rois, dtype=np.float32)
    if rois.ndim != 3:
        raise AnalysisError(f"rois must have shape (n, h, w), got {rois.shape}")
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != rois.shape:
        raise AnalysisError(f"weights must have the ROI shape {rois.shape}, got {weights.shape}")
    n, nr, nc = rois.shape
    w2 = np.ascontiguousarray(weights**2)
    if starts is None:
        st = np.tile(np.array([nc / 2, nr / 2], np.float64), (n, 1))
    else:
        st = np.ascontiguousarray(starts, dtype=np.float64).reshape(n, 2)
    sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (n,)).copy()
    out = LSQResult(
        params=np.empty((n, _NP), np.float32),
        errors=np.empty((n, _NP), np.float32),
        photons=np.empty(n, np.float32),
        photons_err=np.empty(n, np.float32),
        chi2=np.empty(n, np.float32),
        iterations=np.empty(n, np.int16),
        converged=np.empty(n, np.bool_),
    )
    if n:
        _fit_batch(
            rois, w2, st, sig, int(max_iter), float(tol), min(n, 4 * numba.get_num_threads()),
            out.params, out.errors, out.photons, out.photons_err, out.chi2, out.iterations, out.converged,
        )  # fmt: skip
    return out
