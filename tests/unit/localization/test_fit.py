"""Fits at the Cramér–Rao bound: bias, precision, reported errors, LSQ against Mortensen, sCMOS likelihood."""

from __future__ import annotations

import math

import numpy as np
import pytest

from photonflow.errors import AnalysisError
from photonflow.localization.fit import (
    fit_lsq,
    fit_mle,
    integrated_gaussian_crlb,
    mortensen_lsq_variance,
    mortensen_mle_variance,
)
from photonflow.localization.simulate import simulate_spots

PIXEL = 100.0
N_SPOTS = 4000


def _precision(fit_x: np.ndarray, true_x: np.ndarray, ok: np.ndarray) -> tuple[float, float]:
    err = (fit_x[ok] - true_x[ok]) * PIXEL
    return float(err.mean()), float(err.std())


@pytest.mark.parametrize(
    ("photons", "bg", "tolerance"),
    [(1000.0, 10.0, 0.05), (1000.0, 20.0, 0.05), (5000.0, 15.0, 0.05), (300.0, 20.0, 0.10)],
)
def test_mle_unbiased_and_at_crlb(photons: float, bg: float, tolerance: float) -> None:
    spots = simulate_spots(N_SPOTS, photons=photons, bg=bg, sigma=1.3, seed=11)
    r = fit_mle(spots.rois, sigma=1.3, fit_sigma=True)
    ok = r.converged
    assert ok.mean() > 0.99
    crlb = math.sqrt(float(np.mean(r.crlb[ok, 0]))) * PIXEL
    exact = math.sqrt(integrated_gaussian_crlb(photons, bg, 1.3)[0]) * PIXEL
    assert crlb == pytest.approx(exact, rel=0.03)  # reported bound = the bound at the true parameters
    for fitted, true in ((r.params[:, 0], spots.x), (r.params[:, 1], spots.y)):
        bias, sd = _precision(fitted, true, ok)
        assert abs(bias) < 1.0
        assert abs(sd / crlb - 1.0) < tolerance, (sd, crlb)
    assert np.median(r.params[ok, 2]) == pytest.approx(photons, rel=0.03)
    assert np.median(r.params[ok, 3]) == pytest.approx(bg, rel=0.05)
    assert np.median(r.params[ok, 4]) == pytest.approx(1.3, rel=0.02)


def test_mle_fixed_sigma_and_mortensen_agree() -> None:
    spots = simulate_spots(N_SPOTS, photons=1000.0, bg=10.0, sigma=1.0, seed=5)
    r = fit_mle(spots.rois, sigma=1.0, fit_sigma=False)
    assert np.all(r.params[:, 4] == 1.0) and np.all(r.crlb[:, 4] == 0)
    _, sd = _precision(r.params[:, 0], spots.x, r.converged)
    mortensen = math.sqrt(mortensen_mle_variance(1000.0, 10.0, 100.0, PIXEL))
    assert mortensen == pytest.approx(4.09, abs=0.01)  # anchors.md §2.6 worked value
    assert sd == pytest.approx(mortensen, rel=0.05)


def test_lsq_beside_mle_near_mortensen_lsq_bound() -> None:
    spots = simulate_spots(N_SPOTS, photons=1000.0, bg=10.0, sigma=1.3, seed=7)
    mle = fit_mle(spots.rois, sigma=1.3)
    weights = 1.0 / np.sqrt(np.maximum(spots.rois, 1.0))
    lsq = fit_lsq(spots.rois - spots.bg, weights, sigma=1.3)
    assert lsq.converged.mean() > 0.99
    bias, sd_lsq = _precision(lsq.params[:, 1], spots.x, lsq.converged)
    _, sd_mle = _precision(mle.params[:, 0], spots.x, mle.converged)
    bound_lsq = math.sqrt(mortensen_lsq_variance(1000.0, 10.0, 130.0, PIXEL))
    assert bound_lsq == pytest.approx(6.28, abs=0.01)
    assert abs(bias) < 1.0
    # PYME's model also fits a background slope (7 parameters), which costs ~10 % over Mortensen's 4-parameter LSQ
    assert sd_mle < sd_lsq < 1.2 * bound_lsq
    assert np.median(lsq.errors[lsq.converged, 1]) * PIXEL == pytest.approx(sd_lsq, rel=0.1)
    assert np.median(lsq.photons) == pytest.approx(1000.0, rel=0.05)


def test_scmos_likelihood_beats_poisson_with_variance_map() -> None:
    rng = np.random.default_rng(3)
    read_var = rng.lognormal(math.log(4.0), 1.0, (7, 7)).astype(np.float32)  # e⁻², with noisy pixels
    read_var[3, 4] = 400.0  # a hot pixel next to the centre
    spots = simulate_spots(N_SPOTS, photons=500.0, bg=5.0, sigma=1.3, read_variance=read_var, seed=9)
    scmos = fit_mle(spots.rois, sigma=1.3, variance=spots.variance)
    poisson = fit_mle(spots.rois, sigma=1.3)
    _, sd_s = _precision(scmos.params[:, 0], spots.x, scmos.converged)
    _, sd_p = _precision(poisson.params[:, 0], spots.x, poisson.converged)
    crlb = math.sqrt(float(np.mean(scmos.crlb[scmos.converged, 0]))) * PIXEL
    assert sd_s <= sd_p
    assert sd_s == pytest.approx(crlb, rel=0.1)


def test_mle_rejects_bad_input() -> None:
    with pytest.raises(AnalysisError, match="shape"):
        fit_mle(np.zeros((7, 7)))
    with pytest.raises(AnalysisError, match="variance"):
        fit_mle(np.zeros((2, 7, 7)), variance=np.zeros((1, 7, 7)))
    assert fit_mle(np.zeros((0, 7, 7))).params.shape == (0, 5)
