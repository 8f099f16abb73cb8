"""Rendering: mass conservation, geometry, and PNG/TIFF files that read back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from photonflow.localization.render import (
    contrast_limits,
    field_of_view,
    render,
    render_gaussian,
    render_histogram,
    save_png,
    save_tiff,
    to_rgb,
)
from photonflow.localization.results import empty_results


def _still(n_frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros_like(n_frames), np.zeros_like(n_frames)


def test_histogram_conserves_count_and_bins_by_pixel() -> None:
    t = empty_results(4)
    t["x"] = [0.0, 9.99, 10.0, 35.0]
    t["y"] = [0.0, 0.0, 19.0, 5.0]
    img = render_histogram(t, pixel_nm=10, fov=(0, 0, 40, 20))
    assert img.shape == (2, 4) and img.dtype == np.float32
    np.testing.assert_array_equal(img, [[2, 0, 0, 1], [0, 1, 0, 0]])


def test_histogram_total_equals_count_inside_default_fov(sites_table: Callable[..., np.ndarray]) -> None:
    t = sites_table(n_frames=200, n_sites=300, p_on=0.1, drift=_still)
    img = render_histogram(t, pixel_nm=20)
    assert img.sum() == t.size
    geo = field_of_view(t["x"].astype(float), t["y"].astype(float), pixel_nm=20)
    assert img.shape == geo.shape and geo.x_min == 0 and geo.x_max > t["x"].max()


def test_histogram_drops_points_outside_fov() -> None:
    t = empty_results(3)
    t["x"] = [-1.0, 5.0, 100.0]
    t["y"] = [5.0, 5.0, 5.0]
    assert render_histogram(t, pixel_nm=10, fov=(0, 0, 50, 50)).sum() == 1


def test_gaussian_mass_is_one_per_localization(sites_table: Callable[..., np.ndarray]) -> None:
    t = sites_table(n_frames=100, n_sites=200, p_on=0.1, drift=_still)
    t["x_err"] = np.random.default_rng(0).uniform(2, 40, t.size)
    img = render_gaussian(t, pixel_nm=10, fov=(0, 0, 10000, 10000))
    assert img.dtype == np.float32
    assert img.sum() == pytest.approx(t.size, rel=1e-4)


def test_gaussian_width_follows_precision_and_is_clipped() -> None:
    t = empty_results(1)
    t["x"] = t["y"] = 507.5
    t["x_err"] = 30.0
    t["y_err"] = 1.0  # clipped to min_sigma_nm
    img = render_gaussian(t, pixel_nm=5, fov=(0, 0, 1010, 1010), min_sigma_nm=10.0)
    coords = (np.arange(img.shape[0]) + 0.5) * 5
    px = img.sum(axis=0)
    py = img.sum(axis=1)
    sx = np.sqrt(np.sum(px * (coords - 507.5) ** 2) / px.sum())
    sy = np.sqrt(np.sum(py * (coords - 507.5) ** 2) / py.sum())
    # the ±3σ cut narrows the profile by ~1.4%
    assert sx == pytest.approx(30, rel=0.03)
    assert sy == pytest.approx(10, rel=0.03)
    assert np.unravel_index(np.argmax(img), img.shape) == (101, 101)


def test_gaussian_handles_nan_errors_and_edges() -> None:
    t = empty_results(2)
    t["x"] = [0.0, 500.0]
    t["y"] = [0.0, 500.0]
    t["x_err"] = [np.nan, 10.0]
    t["y_err"] = [np.nan, 10.0]
    img = render_gaussian(t, pixel_nm=10, fov=(0, 0, 1000, 1000))
    # the corner localization keeps only the quarter of its mass that lies inside the image
    assert img.sum() == pytest.approx(1.25, abs=0.01)


def test_render_dispatch_and_validation() -> None:
    t = empty_results(1)
    t["x"] = t["y"] = 50.0
    assert render(t, method="histogram", pixel_nm=10).sum() == 1
    with pytest.raises(ValueError, match="method"):
        render(t, method="splat")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pixel_nm"):
        render_histogram(t, pixel_nm=0)
    with pytest.raises(ValueError, match="fov"):
        render_histogram(t, fov=(10, 0, 5, 10))
    with pytest.raises(ValueError, match="'x_err'"):
        render_gaussian(np.zeros(1, dtype=[("x", "f4"), ("y", "f4")]))
    with pytest.raises(ValueError, match="'x' and 'y'"):
        render_histogram(np.zeros((3, 2)))


def test_contrast_uses_nonzero_pixels() -> None:
    img = np.zeros((100, 100), dtype=np.float32)
    img[0, :10] = np.arange(1, 11)
    lo, hi = contrast_limits(img, percentile=50)
    assert lo == 0 and hi == pytest.approx(5.5)
    assert contrast_limits(np.zeros((3, 3))) == (0.0, 1.0)
    rgb = to_rgb(img, colormap="gray", percentile=100)
    assert rgb.shape == (100, 100, 3) and rgb[0, 9].tolist() == [255, 255, 255] and rgb[5, 5].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="colormap"):
        to_rgb(img, colormap="jet")


@pytest.mark.parametrize("colormap", ["hot", "gray", "magenta", "cyan"])
def test_save_png_writes_readable_rgb_of_image_size(tmp_path: Path, colormap: str) -> None:
    img = np.zeros((30, 50), dtype=np.float32)
    img[10, 20] = 7.0
    path = tmp_path / "out.png"
    save_png(img, path, colormap=colormap)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB" and im.size == (50, 30)
        arr = np.asarray(im)
    assert arr[10, 20].max() == 255 and arr[0, 0].max() == 0


def test_save_tiff_round_trips_float32(tmp_path: Path) -> None:
    img = np.random.default_rng(1).random((40, 60)).astype(np.float64)
    path = tmp_path / "out.tif"
    save_tiff(img, path)
    back = tifffile.imread(path)
    assert back.dtype == np.float32 and back.shape == (40, 60)
    np.testing.assert_allclose(back, img.astype(np.float32))
    save_tiff(img, tmp_path / "cal.tif", pixel_nm=10.0)
    with tifffile.TiffFile(tmp_path / "cal.tif") as tf:
        assert tf.is_imagej
        xres = tf.pages[0].tags["XResolution"].value
        assert xres[0] / xres[1] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="2-D"):
        save_tiff(np.zeros((2, 2, 2)), tmp_path / "bad.tif")
