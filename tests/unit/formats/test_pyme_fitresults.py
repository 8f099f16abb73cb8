"""LOCALIZATION_DTYPE <-> PYME FitResults: units, pixel-centre convention, and a round trip."""

from __future__ import annotations

import numpy as np
import pytest

from photonflow.errors import FormatError
from photonflow.formats.pyme_fitresults import PYME_FITRESULTS_DTYPE, from_pyme_fitresults, to_pyme_fitresults
from photonflow.localization.results import empty_results


def _table(n: int = 50) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = empty_results(n)
    t["frame"] = rng.integers(0, 1000, n)
    t["x"] = rng.uniform(0, 20000, n)
    t["y"] = rng.uniform(0, 20000, n)
    t["photons"] = rng.uniform(100, 5000, n)
    t["bg"] = rng.uniform(1, 50, n)
    t["sigma"] = rng.uniform(90, 180, n)
    for col in ("x_err", "y_err", "photons_err", "bg_err", "sigma_err"):
        t[col] = rng.uniform(1, 20, n)
    t["chi2"] = rng.uniform(0.5, 2, n)
    t["converged"] = rng.random(n) > 0.2
    t["loglik"] = -100.0
    t["iterations"] = 7
    t["detection_score"] = 3.0
    return t


def test_dtype_is_pymes_108_byte_record() -> None:
    assert PYME_FITRESULTS_DTYPE.itemsize == 108
    assert PYME_FITRESULTS_DTYPE.names == (
        "tIndex", "fitResults", "fitError", "resultCode", "slicesUsed", "subtractedBackground", "nchi2",
    )  # fmt: skip


def test_units_and_conventions() -> None:
    t = empty_results(1)
    t["x"], t["y"], t["sigma"], t["photons"], t["bg"] = 150.0, 250.0, 100.0, 2 * np.pi * 1000, 10.0
    t["converged"] = True
    r = to_pyme_fitresults(t, pixel_size_nm=100.0, electrons_per_count=0.5, true_em_gain=1.0)
    fr = r["fitResults"][0]
    assert fr["x0"] == pytest.approx(100.0) and fr["y0"] == pytest.approx(200.0)  # pixel centres at i * px
    # photons = A 2π (σ/px)² EPC/G  ->  A = 2π·1000 · 2 / (2π · 1) = 2000 ADU
    assert fr["A"] == pytest.approx(2000.0)
    assert fr["background"] == pytest.approx(20.0)  # 10 photons / 0.5 e/ADU
    assert r["resultCode"][0] == 1
    assert (r["slicesUsed"]["x"]["start"][0], r["slicesUsed"]["x"]["stop"][0]) == (0, 7)  # pixel 1, half-size 5
    assert (r["slicesUsed"]["y"]["start"][0], r["slicesUsed"]["y"]["stop"][0]) == (0, 8)


def test_round_trip_keeps_every_representable_column() -> None:
    t = _table()
    kw = {"pixel_size_nm": (107.0, 110.0), "electrons_per_count": 0.45, "true_em_gain": 1.0}
    back = from_pyme_fitresults(to_pyme_fitresults(t, **kw), **kw)
    for col in ("frame", "converged"):
        np.testing.assert_array_equal(back[col], t[col])
    for col in ("x", "y", "photons", "bg", "sigma", "x_err", "y_err", "photons_err", "bg_err", "sigma_err", "chi2"):
        np.testing.assert_allclose(back[col], t[col], rtol=2e-6, atol=1e-3, err_msg=col)
    assert np.isnan(back["loglik"]).all() and np.isnan(back["detection_score"]).all()
    assert (back["iterations"] == 0).all()


def test_from_pyme_handles_negative_sigma_missing_errors_and_subtracted_background() -> None:
    r = np.zeros(2, PYME_FITRESULTS_DTYPE)
    r["fitResults"]["sigma"] = [-120.0, 120.0]
    r["fitResults"]["A"] = 10.0
    r["fitResults"]["background"] = 3.0
    r["subtractedBackground"] = 2.0
    r["fitError"]["x0"] = [-5000.0, 4.0]
    r["resultCode"] = [5, 2]
    t = from_pyme_fitresults(r, pixel_size_nm=100.0)
    np.testing.assert_allclose(t["sigma"], [120.0, 120.0])
    np.testing.assert_allclose(t["bg"], [5.0, 5.0])
    assert np.isnan(t["x_err"][0]) and t["x_err"][1] == 4.0
    assert t["converged"].tolist() == [False, True]
    minimal = np.zeros(1, [("tIndex", "<i4"), ("fitResults", [("A", "<f4"), ("x0", "<f4"), ("y0", "<f4"),
                                                                ("sigma", "<f4"), ("background", "<f4")])])  # fmt: skip
    m = from_pyme_fitresults(minimal, pixel_size_nm=100.0)
    assert np.isnan(m["x_err"]).all() and m["converged"].all()


def test_validation() -> None:
    with pytest.raises(FormatError):
        to_pyme_fitresults(np.zeros(1, [("x", "<f4")]), pixel_size_nm=100.0)
    with pytest.raises(FormatError, match="tIndex"):
        from_pyme_fitresults(np.zeros(1, [("x", "<f4")]), pixel_size_nm=100.0)
    with pytest.raises(ValueError, match="pixel_size_nm"):
        to_pyme_fitresults(empty_results(1), pixel_size_nm=0.0)
    with pytest.raises(ValueError, match="electrons_per_count"):
        to_pyme_fitresults(empty_results(1), pixel_size_nm=100.0, electrons_per_count=0)
