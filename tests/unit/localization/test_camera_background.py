"""Camera conversion and noise model; the sliding background window (frame t excluded, incremental, percentile)."""

from __future__ import annotations

import numpy as np
import pytest

from photonflow.errors import AnalysisError
from photonflow.localization.background import SlidingBackground
from photonflow.localization.camera import Camera
from photonflow.localization.simulate import emccd_challenge_camera, scmos_camera, simulate


def test_emccd_conversion_recovers_photoelectrons() -> None:
    cam = emccd_challenge_camera()
    adu = np.array([[100, 145, 1000]], np.uint16)
    e = cam.to_photoelectrons(adu)
    assert e.dtype == np.float32
    np.testing.assert_allclose(e, (adu.astype(float) - 100) * 45 / 300, rtol=1e-6)
    # mean level of a simulated flat field: 50 photons · QE 0.9 (+ spurious charge) back to photoelectrons
    movie = simulate(n_frames=20, shape=(32, 32), n_emitters=10, active_per_frame=0.1, photons=1.0,
                     background=50.0, camera=cam, seed=1)  # fmt: skip
    assert cam.to_photoelectrons(movie.frames).mean() == pytest.approx(45.0, rel=0.02)


def test_scmos_maps_and_noise_model() -> None:
    cam = scmos_camera((16, 16), seed=2)
    raw = np.rint(cam.dark_map + 200.0 / cam.flat_map / cam.electrons_per_count).astype(np.uint16)  # type: ignore[operator]
    np.testing.assert_allclose(cam.to_photoelectrons(raw), 200.0, atol=0.5)
    var = cam.noise_variance(np.full((16, 16), 50.0, np.float32))
    np.testing.assert_allclose(var, 50.0 + cam.variance_map * cam.flat_map**2, rtol=1e-5)  # type: ignore[operator]
    with pytest.raises(AnalysisError, match="shape"):
        cam.check_shape((8, 8))


def test_from_metadata_pyme_keys() -> None:
    md = {"Camera.ADOffset": 100, "Camera.ElectronsPerCount": 45, "Camera.TrueEMGain": 300,
          "Camera.ReadNoise": 74.4, "Camera.NoiseFactor": 1.41}  # fmt: skip
    cam = Camera.from_metadata(md)
    assert cam.photoelectrons_per_adu == pytest.approx(0.15)
    assert cam.to_metadata()["Camera.ReadNoise"] == 74.4
    with pytest.raises(AnalysisError, match=r"Camera\.ReadNoise"):
        Camera.from_metadata({"Camera.ElectronsPerCount": 1, "Camera.NoiseFactor": 1})
    with pytest.raises(AnalysisError, match="em_gain"):
        Camera(em_gain=0)


def _frames(n: int) -> list[np.ndarray]:
    return [np.full((2, 3), float(i * i), np.float32) for i in range(n)]


def test_background_mean_excludes_current_frame() -> None:
    bg = SlidingBackground((-3, 0))
    out = [item for f in _frames(6) for item in bg.push(f)]
    assert [t for t, _, _ in out] == list(range(6))
    assert np.all(out[0][2] == 0)  # nothing before frame 0
    assert out[1][2][0, 0] == pytest.approx(0.0)
    assert out[2][2][0, 0] == pytest.approx((0 + 1) / 2)
    assert out[5][2][0, 0] == pytest.approx((4 + 9 + 16) / 3)


def test_background_window_around_t_waits_for_later_frames() -> None:
    bg = SlidingBackground((-2, 3))
    emitted = []
    for f in _frames(6):
        emitted.extend(bg.push(f))
    assert [t for t, _, _ in emitted] == [0, 1, 2, 3]  # frame t needs t + 1, t + 2
    emitted.extend(bg.finish())
    by_t = {t: b[0, 0] for t, _, b in emitted}
    assert by_t[2] == pytest.approx((0 + 1 + 9 + 16) / 4)  # frames 0, 1, 3, 4 — not 2
    assert by_t[5] == pytest.approx((9 + 16) / 2)  # clipped at the end of the series


def test_background_percentile_rank_and_offset() -> None:
    rng = np.random.default_rng(0)
    frames = rng.normal(100, 5, (11, 4, 4)).astype(np.float32)
    bg = SlidingBackground((-10, 0), percentile=0.25)
    out = [item for f in frames for item in bg.push(f)]
    window = frames[:10]
    k = int(np.floor(0.25 * 10))
    pct = np.sort(window, axis=0)[k - 1]
    offset = np.median(np.median(window, axis=0)) - np.median(pct)
    np.testing.assert_allclose(out[10][2], pct + offset, rtol=1e-5)


def test_background_validation() -> None:
    with pytest.raises(AnalysisError, match="bg_range"):
        SlidingBackground((3, 0))
    with pytest.raises(AnalysisError, match="percentile"):
        SlidingBackground((-3, 0), percentile=2)
    assert SlidingBackground((0, 0)).empty_window
