"""End-to-end localization on simulated movies: challenge-like accuracy, streaming, chunks, parameters."""

from __future__ import annotations

import numpy as np
import pytest

from photonflow.errors import ConfigError
from photonflow.localization import LocalizationParams, localize, localize_chunk
from photonflow.localization.metrics import match
from photonflow.localization.results import LOCALIZATION_DTYPE
from photonflow.localization.simulate import emccd_challenge_camera, simulate


@pytest.fixture(scope="module")
def challenge_movie():  # type: ignore[no-untyped-def]
    # like the 2016 challenge's MT0.N1.LD: 64×64 px of 100 nm, σ 1.3 px, EMCCD gain 300, 45 e⁻/ADU, read noise
    # 74.4 e⁻, baseline 100, background ~100 photons/px, bright emitters (anchors.md §2.2), microtubule-like
    return simulate(n_frames=1500, shape=(64, 64), psf_sigma=1.3, structure="microtubules", n_emitters=3000,
                    active_per_frame=3.0, mean_on_frames=2.0, photons=5000.0, brightness="lognormal",
                    background=100.0 / 0.9, camera=emccd_challenge_camera(), seed=2016)  # fmt: skip


def test_challenge_like_jaccard_and_rmse_at_crlb(challenge_movie) -> None:  # type: ignore[no-untyped-def]
    m = challenge_movie
    res = localize(m.frames, camera=m.camera, params=LocalizationParams(threshold=6.0))
    assert res.dtype == LOCALIZATION_DTYPE
    assert np.all(np.diff(res["frame"]) >= 0)
    # the usual quality filter (PYMEVis applies one by default): converged fits of a plausible PSF width and a
    # reduced χ² near 1; it removes fits of two overlapping emitters, whose σ and χ² come out large
    good = res["converged"] & (np.abs(res["sigma"] / np.median(res["sigma"]) - 1.0) < 0.15) & (res["chi2"] < 1.5)
    r = match(res[good], m.truth, tolerance_nm=250.0)
    crlb = np.median(np.hypot(res[good]["x_err"][r.loc_index], res[good]["y_err"][r.loc_index]))
    assert r.jaccard >= 0.7, r
    # x_err/y_err include the EMCCD excess noise (F² = 2)
    assert r.rmse_lateral <= 1.25 * crlb, (r.rmse_lateral, crlb)
    assert abs(r.dx.mean()) < 2.0 and abs(r.dy.mean()) < 2.0
    photons_ratio = np.median(res[good]["photons"][r.loc_index] / m.truth["photons"][r.gt_index])
    assert photons_ratio == pytest.approx(1.0, abs=0.1)


def test_lsq_method_on_the_same_movie(challenge_movie) -> None:  # type: ignore[no-untyped-def]
    m = challenge_movie
    res = localize(m.frames[:300], camera=m.camera, params=LocalizationParams(method="lsq"))
    truth = m.truth[m.truth["frame"] < 300]
    r = match(res[res["converged"]], truth, tolerance_nm=250.0)
    assert r.jaccard >= 0.7
    assert np.all(np.isnan(res["loglik"]))


def test_chunks_equal_the_whole_series_and_streaming_input(challenge_movie) -> None:  # type: ignore[no-untyped-def]
    m = challenge_movie
    params = LocalizationParams(bg_range=(-10, 0))
    frames = m.frames[:200]
    calls: list[tuple[int, int]] = []
    whole = localize((f for f in frames), camera=m.camera, params=params, progress=lambda f, n: calls.append((f, n)))
    assert calls[-1] == (200, whole.shape[0])
    parts = [
        localize_chunk(frames[s : s + 50], s, camera=m.camera, params=params, preceding=frames[max(s - 10, 0) : s])
        for s in range(0, 200, 50)
    ]
    joined = np.concatenate(parts)
    assert joined.shape == whole.shape
    np.testing.assert_array_equal(joined["frame"], whole["frame"])
    np.testing.assert_allclose(joined["x"], whole["x"], atol=1e-3)
    offset = localize(frames[:20], camera=m.camera, params=LocalizationParams(frame_offset=1000))
    assert offset["frame"].min() >= 1000


@pytest.mark.parametrize(
    ("field", "value"),
    [("roi_size", 6), ("method", "spline"), ("threshold", -1.0), ("bg_range", (0, -5)), ("likelihood", "gauss")],
)
def test_params_validation_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        LocalizationParams(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown"):
        LocalizationParams.from_mapping({"treshold": 3})
