"""Integrated-Gaussian maximum-likelihood fits of many ROIs at once (Poisson, or sCMOS per-pixel variance).

The model of ROI pixel (i, j) is ``μ = bg + N · E_y[i] · E_x[j]`` (pixel-integrated Gaussian of width σ, Smith et
al., Nat. Methods 7:373, 2010). The fit minimises the Poisson deviance ``2 Σ (μ − d − d ln(μ/d))`` by
Levenberg–Marquardt with the expected Fisher information ``Σ ∂μ ∂μᵀ / μ`` as curvature (Fisher scoring), so the
Cramér–Rao bound at the optimum comes for free: ``CRLB = diag(I⁻¹)``.

With an sCMOS variance map the likelihood of Huang et al. (Nat. Methods 10:653, 2013) is used: ``v = var / g²`` is
added to both data and model (a Poisson approximation of Poisson + Gaussian read noise).

Parameters are in ROI pixel units: ``x`` along the last (column) axis, ``y`` along the rows, pixel ``j`` spanning
``[j, j + 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from numba import prange

from photonflow.errors import AnalysisError
from photonflow.localization.fit._gauss import integrated_gaussian_1d
from photonflow.localization.fit._linalg import cholesky_inplace, cholesky_solve, inverse_diagonal

__all__ = ["PARAMS", "MLEResult", "fit_mle"]

PARAMS = ("x", "y", "photons", "bg", "sigma")
_TINY = 1e-10


@dataclass(frozen=True)
class MLEResult:
    """Per-ROI outputs of :func:`fit_mle` (n = number of ROIs).

    Attributes
    ----------
    params : ndarray of shape (n, 5), float32
        x, y (ROI pixels), photons, bg (photons/pixel), sigma (pixels).
    crlb : ndarray of shape (n, 5), float32
        Cramér–Rao variances of the parameters at the fit (sigma's is 0 when sigma was fixed).
    loglik : ndarray of shape (n,), float32
        Poisson log-likelihood at the optimum.
    chi2 : ndarray of shape (n,), float32
        Pearson χ² divided by the degrees of freedom.
    iterations : ndarray of shape (n,), int16
    converged : ndarray of shape (n,), bool
    """

    params: np.ndarray
    crlb: np.ndarray
    loglik: np.ndarray
    chi2: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


@numba.njit(cache=True, nogil=True, fastmath={"contract", "reassoc", "nsz", "arcp"})
def _evaluate(
    roi: np.ndarray,
    var: np.ndarray,
    has_var: bool,
    theta: np.ndarray,
    npar: int,
    ex: np.ndarray,
    dex: np.ndarray,
    dsx: np.ndarray,
    ey: np.ndarray,
    dey: np.ndarray,
    dsy: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
) -> float:
    """Deviance at ``theta``; fills the Fisher matrix (lower triangle) ``alpha`` and the score ``beta``.

    The 15 Fisher and 5 score sums are scalars, not array elements, so they stay in registers through the pixel
    loop (this loop is most of a fit's time). With ``npar == 4`` the σ column is computed and dropped.
    """
    nr, nc = roi.shape
    integrated_gaussian_1d(theta[0], theta[4], nc, ex, dex, dsx)
    integrated_gaussian_1d(theta[1], theta[4], nr, ey, dey, dsy)
    n_ph = theta[2]
    bg = theta[3]
    a00 = a10 = a11 = a20 = a21 = a22 = a30 = a31 = a32 = a33 = 0.0
    a40 = a41 = a42 = a43 = a44 = 0.0
    b0 = b1 = b2 = b3 = b4 = 0.0
    dev = 0.0
    for i in range(nr):
        eyi = ey[i]
        neyi = n_ph * eyi
        ndeyi = n_ph * dey[i]
        ndsyi = n_ph * dsy[i]
        for j in range(nc):
            exj = ex[j]
            p = exj * eyi
            mu = bg + n_ph * p
            d = float(roi[i, j])
            if has_var:
                mu += var[i, j]
                d += var[i, j]
            mu = max(mu, _TINY)
            if d > 0.0:
                dev += mu - d - d * math.log(mu / d)
            else:
                d = 0.0
                dev += mu
            j0 = neyi * dex[j]
            j1 = ndeyi * exj
            j4 = neyi * dsx[j] + ndsyi * exj
            w = 1.0 / mu
            r = d * w - 1.0
            b0 += r * j0
            b1 += r * j1
            b2 += r * p
            b3 += r
            b4 += r * j4
            w0 = j0 * w
            w1 = j1 * w
            w2 = p * w
            w4 = j4 * w
            a00 += w0 * j0
            a10 += w1 * j0
            a11 += w1 * j1
            a20 += w2 * j0
            a21 += w2 * j1
            a22 += w2 * p
            a30 += w0
            a31 += w1
            a32 += w2
            a33 += w
            a40 += w4 * j0
            a41 += w4 * j1
            a42 += w4 * p
            a43 += w4
            a44 += w4 * j4
    beta[0] = b0
    beta[1] = b1
    beta[2] = b2
    beta[3] = b3
    alpha[0, 0] = a00
    alpha[1, 0] = a10
    alpha[1, 1] = a11
    alpha[2, 0] = a20
    alpha[2, 1] = a21
    alpha[2, 2] = a22
    alpha[3, 0] = a30
    alpha[3, 1] = a31
    alpha[3, 2] = a32
    alpha[3, 3] = a33
    if npar == 5:
        beta[4] = b4
        alpha[4, 0] = a40
        alpha[4, 1] = a41
        alpha[4, 2] = a42
        alpha[4, 3] = a43
        alpha[4, 4] = a44
    return 2.0 * dev


@numba.njit(cache=True, nogil=True)
def _initial(roi: np.ndarray, var: np.ndarray, has_var: bool, sigma0: float, theta: np.ndarray) -> None:
    """Start values: background from the ROI border, photons from the excess, position from the centroid."""
    nr, nc = roi.shape
    border = 0.0
    nb = 0
    for i in range(nr):
        for j in range(nc):
            if i == 0 or j == 0 or i == nr - 1 or j == nc - 1:
                border += roi[i, j]
                nb += 1
    bg = max(border / nb, 0.01)
    total = 0.0
    sx = 0.0
    sy = 0.0
    for i in range(nr):
        for j in range(nc):
            v = roi[i, j] - bg
            if v > 0.0:
                total += v
                sx += v * (j + 0.5)
                sy += v * (i + 0.5)
    if total > 0.0:
        theta[0] = min(max(sx / total, 1.0), nc - 1.0)
        theta[1] = min(max(sy / total, 1.0), nr - 1.0)
    else:
        theta[0] = 0.5 * nc
        theta[1] = 0.5 * nr
    theta[2] = max(total, 1.0)
    theta[3] = bg
    theta[4] = sigma0


@numba.njit(cache=True, nogil=True)
def _fit_one(
    roi: np.ndarray,
    var: np.ndarray,
    has_var: bool,
    sigma0: float,
    npar: int,
    max_iter: int,
    tol: float,
    theta: np.ndarray,
    trial: np.ndarray,
    delta: np.ndarray,
    ex: np.ndarray,
    dex: np.ndarray,
    dsx: np.ndarray,
    ey: np.ndarray,
    dey: np.ndarray,
    dsy: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    alpha_t: np.ndarray,
    beta_t: np.ndarray,
    lhs: np.ndarray,
) -> tuple[int, bool]:
    nr, nc = roi.shape
    _initial(roi, var, has_var, sigma0, theta)
    dev = _evaluate(roi, var, has_var, theta, npar, ex, dex, dsx, ey, dey, dsy, alpha, beta)
    lam = 1e-3
    converged = False
    it = 0
    sigma_max = 0.5 * max(nr, nc)
    fresh = True  # the PSF vectors and alpha describe theta (not a rejected trial)
    while it < max_iter:
        it += 1
        for k in range(npar):
            for m in range(k + 1):
                lhs[k, m] = alpha[k, m]
            lhs[k, k] = alpha[k, k] * (1.0 + lam)
        if not cholesky_inplace(lhs, npar):
            break
        cholesky_solve(lhs, beta, delta, npar)
        # a Newton step of more than a pixel is never trusted: clamp it (as Smith et al. do)
        for k in (0, 1, 4):
            if k < npar:
                delta[k] = min(max(delta[k], -1.0), 1.0)
        for k in range(5):
            trial[k] = theta[k]
        for k in range(npar):
            trial[k] = theta[k] + delta[k]
        if trial[2] <= 0.0:
            trial[2] = 0.5 * theta[2]
        if trial[3] <= 0.0:
            trial[3] = 0.5 * theta[3] + _TINY
        if npar == 5:
            trial[4] = min(max(trial[4], 0.3), sigma_max)
        trial[0] = min(max(trial[0], -1.0), nc + 1.0)
        trial[1] = min(max(trial[1], -1.0), nr + 1.0)
        dev_t = _evaluate(roi, var, has_var, trial, npar, ex, dex, dsx, ey, dey, dsy, alpha_t, beta_t)
        fresh = dev_t <= dev
        if fresh:
            small = (
                abs(trial[0] - theta[0]) < tol
                and abs(trial[1] - theta[1]) < tol
                and abs(trial[4] - theta[4]) < tol
                and abs(trial[2] - theta[2]) < 1e-4 * theta[2]
            )
            for k in range(5):
                theta[k] = trial[k]
            for k in range(npar):
                beta[k] = beta_t[k]
                for m in range(k + 1):
                    alpha[k, m] = alpha_t[k, m]
            dev = dev_t
            lam = max(lam * 0.1, 1e-7)
            if small:
                converged = True
                break
        else:
            lam *= 10.0
            if lam > 1e6:
                # no step in any direction lowers the deviance: we sit at the optimum to float precision
                converged = True
                break
    # the Fisher matrix and the PSF vectors must describe the final point: re-evaluate if the last trial was rejected
    if not fresh:
        _evaluate(roi, var, has_var, theta, npar, ex, dex, dsx, ey, dey, dsy, alpha, beta)
    inside = -0.5 <= theta[0] <= nc + 0.5 and -0.5 <= theta[1] <= nr + 0.5
    return it, converged and inside


@numba.njit(cache=True, nogil=True)
def _finish(
    roi: np.ndarray,
    var: np.ndarray,
    has_var: bool,
    theta: np.ndarray,
    npar: int,
    ex: np.ndarray,
    ey: np.ndarray,
) -> tuple[float, float]:
    """Log-likelihood and reduced Pearson χ² at the final parameters (``ex``/``ey`` hold the final PSF)."""
    nr, nc = roi.shape
    loglik = 0.0
    pearson = 0.0
    for i in range(nr):
        for j in range(nc):
            mu = theta[3] + theta[2] * ex[j] * ey[i]
            d = roi[i, j]
            if has_var:
                mu += var[i, j]
                d += var[i, j]
            mu = max(mu, _TINY)
            pearson += (d - mu) * (d - mu) / mu
            d = max(d, 0.0)
            loglik += d * math.log(mu) - mu - math.lgamma(d + 1.0)
    dof = max(nr * nc - npar, 1)
    return loglik, pearson / dof


@numba.njit(parallel=True, cache=True, nogil=True)
def _fit_batch(
    rois: np.ndarray,
    var: np.ndarray,
    sigma0: np.ndarray,
    npar: int,
    max_iter: int,
    tol: float,
    nchunks: int,
    out_params: np.ndarray,
    out_crlb: np.ndarray,
    out_loglik: np.ndarray,
    out_chi2: np.ndarray,
    out_iter: np.ndarray,
    out_conv: np.ndarray,
) -> None:
    n, nr, nc = rois.shape
    has_var = var.shape[0] > 0
    for c in prange(nchunks):
        # work arrays once per chunk of ROIs, not per ROI
        nmax = max(nr, nc)
        ex = np.empty(nmax)
        dex = np.empty(nmax)
        dsx = np.empty(nmax)
        ey = np.empty(nmax)
        dey = np.empty(nmax)
        dsy = np.empty(nmax)
        theta = np.empty(5)
        trial = np.empty(5)
        delta = np.zeros(5)
        beta = np.zeros(5)
        beta_t = np.zeros(5)
        alpha = np.zeros((5, 5))
        alpha_t = np.zeros((5, 5))
        lhs = np.zeros((5, 5))
        diag = np.zeros(5)
        work = np.zeros(10)
        for r in range(c * n // nchunks, (c + 1) * n // nchunks):
            roi = rois[r]
            vr = var[r] if has_var else roi  # a placeholder the kernel never reads
            it, conv = _fit_one(
                roi, vr, has_var, sigma0[r], npar, max_iter, tol, theta, trial, delta,
                ex, dex, dsx, ey, dey, dsy, alpha, beta, alpha_t, beta_t, lhs,
            )  # fmt: skip
            for k in range(npar):
                for m in range(k + 1):
                    lhs[k, m] = alpha[k, m]
            if cholesky_inplace(lhs, npar):
                inverse_diagonal(lhs, diag, work, npar)
            else:
                for k in range(npar):
                    diag[k] = np.nan
                conv = False
            loglik, chi2 = _finish(roi, vr, has_var, theta, npar, ex, ey)
            for k in range(5):
                out_params[r, k] = theta[k]
                out_crlb[r, k] = diag[k] if k < npar else 0.0
            out_loglik[r] = loglik
            out_chi2[r] = chi2
            out_iter[r] = it
            out_conv[r] = conv


def fit_mle(
    rois: np.ndarray,
    *,
    sigma: float | np.ndarray = 1.3,
    fit_sigma: bool = True,
    variance: np.ndarray | None = None,
    max_iter: int = 50,
    tol: float = 1e-3,
) -> MLEResult:
    """Fit an integrated Gaussian to every ROI by maximum likelihood.

    Parameters
    ----------
    rois : ndarray of shape (n, h, w)
        Data in photoelectrons (camera-corrected, background *not* subtracted). Converted to contiguous float32.
    sigma : float or ndarray of shape (n,)
        PSF standard deviation in pixels: the start value when ``fit_sigma``, else the fixed value.
    fit_sigma : bool
        Fit σ (5 parameters) or hold it fixed (4 parameters).
    variance : ndarray of shape (n, h, w), optional
        Read-noise variance over gain² per pixel (photoelectrons²); selects the sCMOS likelihood of Huang 2013.
    max_iter : int
        Iteration limit; ROIs that hit it are returned with ``converged`` False.
    tol : float
        Convergence tolerance on position and σ steps, pixels.

    Returns
    -------
    MLEResult
    """
    rois = np.ascontiguousarray(rois, dtype=np.float32)
    if rois.ndim != 3:
        raise AnalysisError(f"rois must have shape (n, h, w), got {rois.shape}")
    n = rois.shape[0]
    if variance is None:
        var = np.zeros((0, 1, 1), dtype=np.float32)
    else:
        var = np.ascontiguousarray(variance, dtype=np.float32)
        if var.shape != rois.shape:
            raise AnalysisError(f"variance must have the ROI shape {rois.shape}, got {var.shape}")
    sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (n,)).copy()
    if not np.all(sig > 0):
        raise AnalysisError("sigma must be > 0 pixels")
    out = MLEResult(
        params=np.empty((n, 5), np.float32),
        crlb=np.empty((n, 5), np.float32),
        loglik=np.empty(n, np.float32),
        chi2=np.empty(n, np.float32),
        iterations=np.empty(n, np.int16),
        converged=np.empty(n, np.bool_),
    )
    if n:
        _fit_batch(
            rois, var, sig, 5 if fit_sigma else 4, int(max_iter), float(tol), min(n, 4 * numba.get_num_threads()),
            out.params, out.crlb, out.loglik, out.chi2, out.iterations, out.converged,
        )  # fmt: skip
    return out
