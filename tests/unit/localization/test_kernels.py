"""The fast kernels against plain reference computations: band-pass vs scipy.ndimage, maxima, ROI copies,
one-pass camera conversion, the fused sliding mean, and the Fisher matrix a fit reports."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from photonflow.errors import AnalysisError
from photonflow.localization import LocalizationParams, localize
from photonflow.localization.background import SlidingBackground
from photonflow.localization.camera import Camera
from photonflow.localization.detect import DetectionWorkspace, _box_width, bandpass, detect, dog_noise_gain
from photonflow.localization.fit import fit_mle, integrated_gaussian_crlb
from photonflow.localization.roi import extract_rois
from photonflow.localization.simulate import integrated_gaussian_image, simulate_spots


@pytest.mark.parametrize(("shape", "sigma_low", "sigma_high"), [((64, 80), 1.0, 3.0), ((37, 45), 1.5, 4.0)])
def test_bandpass_equals_scipy_ndimage(shape: tuple[int, int], sigma_low: float, sigma_high: float) -> None:
    image = np.random.default_rng(0).normal(50.0, 20.0, shape).astype(np.float32)
    low, dog = bandpass(image, sigma_low, sigma_high)
    ref_low = ndimage.gaussian_filter(image.astype(np.float64), sigma_low, mode="reflect", truncate=4.0)
    ref_box = ndimage.uniform_filter(image.astype(np.float64), _box_width(sigma_high), mode="reflect")
    np.testing.assert_allclose(low, ref_low, atol=2e-4 * 50)
    np.testing.assert_allclose(dog, ref_low - ref_box, atol=2e-4 * 50)


def _reference_candidates(
    image: np.ndarray, bg: np.ndarray, rv: np.ndarray, f2: float, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maxima, scores and centroids from scipy filters and numpy (no ties in random data)."""
    s = np.maximum(image.astype(np.float64) - bg, 0.0)
    low = ndimage.gaussian_filter(s, 1.0, mode="reflect", truncate=4.0)
    f = low - ndimage.uniform_filter(s, _box_width(3.0), mode="reflect")
    peak = (f == ndimage.maximum_filter(f, 3, mode="constant", cval=-np.inf)) & (f > 0)
    score = f / (np.sqrt(f2 * np.maximum(low + bg, 1.0) + rv) * dog_noise_gain(1.0, 3.0))
    peak &= score > threshold
    peak[[0, -1], :] = peak[:, [0, -1]] = False  # border = 1
    ii, jj = np.nonzero(peak)
    w = np.maximum(f, 0.0)
    wsum = ndimage.uniform_filter(w, 3, mode="constant") * 9
    rsum = ndimage.uniform_filter(w * np.arange(f.shape[0])[:, None], 3, mode="constant") * 9
    csum = ndimage.uniform_filter(w * np.arange(f.shape[1])[None, :], 3, mode="constant") * 9
    return rsum[ii, jj] / wsum[ii, jj], csum[ii, jj] / wsum[ii, jj], score[ii, jj]


def test_detect_matches_reference_and_reuses_its_workspace() -> None:
    rng = np.random.default_rng(3)
    cam = Camera(noise_factor=math.sqrt(2.0), read_noise=2.0)
    rv = cam.read_variance((96, 128)) * rng.uniform(0.5, 2.0, (96, 128)).astype(np.float32)
    ws = DetectionWorkspace((96, 128))
    for k in range(4):
        xs, ys = rng.uniform(5, 123, 30), rng.uniform(5, 91, 30)
        bg = np.float32(15.0) + rng.uniform(0, 5, (96, 128)).astype(np.float32)
        frame = rng.poisson(bg + integrated_gaussian_image((96, 128), xs, ys, 600.0, sigma=1.3)).astype(np.float32)
        background: np.ndarray | float = bg if k % 2 else 17.5
        bg_arr = np.broadcast_to(np.float32(background), frame.shape).astype(np.float64)
        rows, cols, score = _reference_candidates(frame, bg_arr, rv, 2.0, 5.0)
        c = detect(frame, camera=cam, read_variance=rv, background=background, threshold=5.0, min_distance=0.0,
                   workspace=ws)  # fmt: skip
        assert len(c) == rows.size > 20
        np.testing.assert_allclose(c.rows, rows, atol=1e-4)
        np.testing.assert_allclose(c.cols, cols, atol=1e-4)
        np.testing.assert_allclose(c.score, score, rtol=1e-4)
        fresh = detect(frame, camera=cam, read_variance=rv, background=background, threshold=5.0, min_distance=0.0)
        np.testing.assert_array_equal(fresh.rows, c.rows)


def test_workspace_refuses_other_shapes_and_sigmas() -> None:
    ws = DetectionWorkspace((40, 40))
    with pytest.raises(AnalysisError, match="shape"):
        detect(np.zeros((40, 41), np.float32), camera=Camera(), workspace=ws)
    with pytest.raises(AnalysisError, match="sigmas"):
        detect(np.zeros((40, 40), np.float32), camera=Camera(), sigma_high=4.0, workspace=ws)
    with pytest.raises(AnalysisError, match="too small"):
        DetectionWorkspace((8, 40))


def test_extract_rois_equals_fancy_indexing_and_checks_bounds() -> None:
    image = np.random.default_rng(1).random((30, 40)).astype(np.float32)
    origins = np.array([[0, 0], [23, 33], [10, 5]], np.int32)
    rois = extract_rois(image, origins, 7)
    for k, (r0, c0) in enumerate(origins):
        np.testing.assert_array_equal(rois[k], image[r0 : r0 + 7, c0 : c0 + 7])
    assert extract_rois(image, np.zeros((0, 2), np.int32), 7).shape == (0, 7, 7)
    with pytest.raises(AnalysisError, match="outside"):
        extract_rois(image, np.array([[24, 0]]), 7)


@pytest.mark.parametrize("maps", ["none", "dark", "flat", "both"])
def test_one_pass_camera_conversion_equals_numpy(maps: str) -> None:
    rng = np.random.default_rng(2)
    adu = rng.integers(80, 4000, (3, 32, 48)).astype(np.uint16)
    dark = rng.normal(100, 3, (32, 48)).astype(np.float32) if maps in ("dark", "both") else None
    flat = rng.normal(1, 0.05, (32, 48)).astype(np.float32) if maps in ("flat", "both") else None
    cam = Camera(baseline=95.0, electrons_per_count=4.5, em_gain=30.0, dark_map=dark, flat_map=flat)
    stack = cam.to_photoelectrons(adu)  # the numpy path (3-D)
    expected = (adu - (95.0 if dark is None else dark)) * (1.0 if flat is None else flat) * (4.5 / 30.0)
    np.testing.assert_allclose(stack, expected, rtol=1e-5, atol=1e-4)
    for k in range(3):
        np.testing.assert_allclose(cam.to_photoelectrons(adu[k]), stack[k], rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("bg_range", [(-4, 0), (-2, 3), (1, 4), (-5, -2)])
def test_sliding_mean_equals_window_mean(bg_range: tuple[int, int]) -> None:
    frames = np.random.default_rng(5).normal(100, 10, (12, 6, 7)).astype(np.float32)
    bg = SlidingBackground(bg_range)
    out = [item for f in frames for item in bg.push(f)] + bg.finish()
    assert [t for t, _, _ in out] == list(range(12))
    for t, frame, b in out:
        members = [i for i in range(t + bg_range[0], t + bg_range[1]) if 0 <= i < 12 and i != t]
        expected = frames[members].astype(np.float64).mean(axis=0) if members else np.zeros((6, 7))
        np.testing.assert_allclose(b, expected, rtol=1e-6)
        np.testing.assert_array_equal(frame, frames[t])


@pytest.mark.parametrize("fit_sigma", [True, False])
def test_reported_crlb_is_the_fisher_bound_at_the_fitted_parameters(fit_sigma: bool) -> None:
    spots = simulate_spots(25, photons=800.0, bg=12.0, sigma=1.3, seed=9)
    r = fit_mle(spots.rois, sigma=1.3, fit_sigma=fit_sigma)
    assert r.converged.all()
    for k in range(25):
        x, y, n, b, s = (float(v) for v in r.params[k])
        bound = integrated_gaussian_crlb(n, b, s, x=x, y=y, fit_sigma=fit_sigma)
        np.testing.assert_allclose(r.crlb[k], bound.astype(np.float32), rtol=1e-3)


def test_dropped_frames_yield_no_rows() -> None:
    rng = np.random.default_rng(6)
    frames = (100 + rng.poisson(20.0, (4, 32, 32))).astype(np.uint16)
    frames[1] = 0  # a dropped frame
    frames[2] = 100  # a frame at the baseline
    mu = 20.0 + integrated_gaussian_image((32, 32), np.array([16.2]), np.array([15.7]), 3000.0, sigma=1.3)
    frames[3] = (100 + rng.poisson(mu)).astype(np.uint16)
    res = localize(frames, camera=Camera(baseline=100.0), params=LocalizationParams(bg_range=(0, 0)))
    assert set(res["frame"].tolist()) == {3}
