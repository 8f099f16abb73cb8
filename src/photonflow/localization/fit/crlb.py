"""Cramér–Rao bounds for the 2-D Gaussian PSF: the exact pixelated Fisher bound and Mortensen's formulas.

Mortensen et al., Nat. Methods 7:377 (2010), with ``σ_a² = σ² + a²/12`` and ``τ = 2π σ_a² b / (N a²)``:

* MLE: ``Var(x) = F² (σ_a²/N) / (1 + ∫₀¹ ln t / (1 + t/τ) dt)``
* LSQ: ``Var(x) = F² (σ_a²/N) (16/9 + 8π σ_a² b / (N a²))``

F is the excess noise factor (√2 for EMCCD, 1 for Poisson/sCMOS).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import quad

from photonflow.errors import AnalysisError
from photonflow.localization.fit._linalg import cholesky_inplace, inverse_diagonal
from photonflow.localization.fit.mle import _evaluate

__all__ = ["integrated_gaussian_crlb", "mortensen_lsq_variance", "mortensen_mle_variance"]


def _sigma_a2(sigma: float, pixel_size: float) -> float:
    return sigma * sigma + pixel_size * pixel_size / 12.0


def mortensen_mle_variance(
    photons: float, bg: float, sigma: float, pixel_size: float, *, noise_factor: float = 1.0
) -> float:
    """Mortensen's MLE variance of x (units of ``sigma``/``pixel_size`` squared); ``bg`` is photons per pixel."""
    if photons <= 0 or sigma <= 0 or pixel_size <= 0 or bg < 0:
        raise AnalysisError("photons, sigma and pixel_size must be > 0 and bg >= 0")
    sa2 = _sigma_a2(sigma, pixel_size)
    if bg == 0:
        return noise_factor**2 * sa2 / photons
    tau = 2.0 * math.pi * sa2 * bg / (photons * pixel_size * pixel_size)
    integral = quad(lambda t: math.log(t) / (1.0 + t / tau), 0.0, 1.0)[0]
    return noise_factor**2 * sa2 / photons / (1.0 + integral)


def mortensen_lsq_variance(
    photons: float, bg: float, sigma: float, pixel_size: float, *, noise_factor: float = 1.0
) -> float:
    """Mortensen's (unweighted) least-squares variance of x; ``bg`` is photons per pixel."""
    if photons <= 0 or sigma <= 0 or pixel_size <= 0 or bg < 0:
        raise AnalysisError("photons, sigma and pixel_size must be > 0 and bg >= 0")
    sa2 = _sigma_a2(sigma, pixel_size)
    return noise_factor**2 * sa2 / photons * (16.0 / 9.0 + 8.0 * math.pi * sa2 * bg / (photons * pixel_size**2))


def integrated_gaussian_crlb(
    photons: float,
    bg: float,
    sigma: float,
    *,
    size: int = 7,
    x: float | None = None,
    y: float | None = None,
    fit_sigma: bool = True,
    variance: np.ndarray | None = None,
) -> np.ndarray:
    """Exact CRLB of the pixel-integrated Gaussian on a ``size``×``size`` ROI (the bound :func:`fit_mle` reports).

    Parameters are in pixels; ``x``/``y`` default to the ROI centre. ``variance`` (h, w) selects the sCMOS
    likelihood. Returns the variances of (x, y, photons, bg, sigma) (sigma's is 0 when ``fit_sigma`` is False).
    """
    npar = 5 if fit_sigma else 4
    theta = np.array([size / 2 if x is None else x, size / 2 if y is None else y, photons, bg, sigma], np.float64)
    roi = np.zeros((size, size), np.float32)
    has_var = variance is not None
    var = np.ascontiguousarray(variance, dtype=np.float32) if has_var else roi
    work1 = [np.empty(size) for _ in range(6)]
    beta = np.zeros(5)
    alpha = np.zeros((5, 5))
    _evaluate(roi, var, has_var, theta, npar, *work1, alpha, beta)  # type: ignore[call-arg]
    out = np.zeros(5)
    if not cholesky_inplace(alpha, npar):
        raise AnalysisError("Fisher information is singular for these parameters")
    inverse_diagonal(alpha, out, np.zeros(10), npar)
    return out
