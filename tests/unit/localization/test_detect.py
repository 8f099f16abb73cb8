"""Detection on known spots: recall, false positives, sub-pixel centroids, debounce, ROI extraction at edges."""

from __future__ import annotations

import numpy as np
import pytest

from photonflow.errors import AnalysisError
from photonflow.localization.camera import Camera
from photonflow.localization.detect import bandpass, detect, dog_noise_gain
from photonflow.localization.roi import extract_rois, roi_origins
from photonflow.localization.simulate import integrated_gaussian_image


def _grid_frame(rng: np.random.Generator, photons: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ys, xs = np.meshgrid(np.arange(8, 120, 12.0), np.arange(8, 120, 12.0), indexing="ij")
    xs = xs.ravel() + rng.uniform(-0.5, 0.5, xs.size)
    ys = ys.ravel() + rng.uniform(-0.5, 0.5, ys.size)
    mu = 20.0 + integrated_gaussian_image((128, 128), xs, ys, photons, sigma=1.3)
    return rng.poisson(mu).astype(np.float32), xs, ys


def test_detects_known_spots_without_false_positives() -> None:
    rng = np.random.default_rng(4)
    cam = Camera()
    found = missed = false = 0
    for _ in range(5):
        frame, xs, ys = _grid_frame(rng, 800.0)
        c = detect(frame, camera=cam, background=20.0, threshold=6.0)
        # candidates are pixel-index coordinates: a true position x (pixel j spans [j, j+1)) is at index x - 0.5
        d = np.hypot(c.cols[:, None] - (xs - 0.5)[None, :], c.rows[:, None] - (ys - 0.5)[None, :])
        hit = d.min(axis=0) < 1.0
        found += hit.sum()
        missed += (~hit).sum()
        false += (d.min(axis=1) >= 1.0).sum()
        assert np.median(d.min(axis=0)[hit]) < 0.35
    assert missed == 0 and found == 5 * 100
    assert false == 0
    noise_only = rng.poisson(20.0, (128, 128)).astype(np.float32)
    assert len(detect(noise_only, camera=cam, background=20.0, threshold=6.0)) == 0


def test_bandpass_noise_gain_is_the_filtered_noise_sd() -> None:
    noise = np.random.default_rng(1).standard_normal((256, 256)).astype(np.float32)
    _, dog = bandpass(noise, 1.0, 3.0)
    assert dog[16:-16, 16:-16].std() == pytest.approx(dog_noise_gain(1.0, 3.0), rel=0.03)
    flat = np.full((64, 64), 7.0, np.float32)
    assert np.abs(bandpass(flat)[1]).max() < 1e-4  # a constant background leaves nothing


def test_debounce_keeps_brightest_of_close_pair() -> None:
    mu = 10.0 + integrated_gaussian_image((32, 32), np.array([15.0, 19.5]), np.array([15.5, 15.5]),
                                          np.array([3000.0, 2500.0]), sigma=1.0)  # fmt: skip
    frame = mu.astype(np.float32)  # noiseless: two maxima 4.5 px apart
    assert len(detect(frame, camera=Camera(), background=10.0, threshold=3.0, min_distance=0.0)) == 2
    kept = detect(frame, camera=Camera(), background=10.0, threshold=3.0, min_distance=5.0)
    assert len(kept) == 1 and abs(kept.cols[0] - 14.5) < 0.5


def test_roi_extraction_shifts_edge_rois_inside() -> None:
    image = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    origins = roi_origins(np.array([0.2, 10.0, 19.0]), np.array([0.0, 15.4, 29.0]), image.shape, 7)
    np.testing.assert_array_equal(origins, [[0, 0], [7, 12], [13, 23]])
    rois = extract_rois(image, origins, 7)
    assert rois.shape == (3, 7, 7) and rois.dtype == np.float32 and rois.flags.c_contiguous
    np.testing.assert_array_equal(rois[1], image[7:14, 12:19])
    with pytest.raises(AnalysisError, match="ROI size"):
        roi_origins(np.zeros(1), np.zeros(1), (5, 5), 7)
