"""Column-range filters and the NeNA precision estimate."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from photonflow.errors import AnalysisError
from photonflow.localization.filters import Filter, apply_filters, filter_mask, nena, parse_filters
from photonflow.localization.results import empty_results


@pytest.fixture
def small() -> np.ndarray:
    t = empty_results(5)
    t["photons"] = [50, 100, 500, 1000, np.nan]
    t["x_err"] = [5, 40, 10, 29.9, 3]
    t["frame"] = [0, 1, 2, 3, 4]
    return t


def test_inclusive_bounds_and_nan_rejected(small: np.ndarray) -> None:
    assert Filter("photons", min=100, max=1000).mask(small).tolist() == [False, True, True, True, False]
    assert Filter("photons", min=100).mask(small).tolist() == [False, True, True, True, False]
    assert Filter("frame", max=1).mask(small).tolist() == [True, True, False, False, False]


def test_filters_combine_with_and(small: np.ndarray) -> None:
    out = apply_filters(small, [Filter("photons", min=60), Filter("x_err", max=30)])
    assert out["frame"].tolist() == [2, 3]
    assert filter_mask(small, []).all()


def test_pyme_style_mapping_with_aliases(small: np.ndarray) -> None:
    filters = parse_filters({"error_x": [0, 30], "photons": [None, 600], "t": [1, 10]})
    assert [f.column for f in filters] == ["x_err", "photons", "frame"]
    assert apply_filters(small, {"error_x": [0, 30], "photons": [None, 600]})["frame"].tolist() == [0, 2]
    assert filters[0].describe() == "0 <= x_err <= 30"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"column": "photons"}, "min, a max or both"),
        ({"column": "photons", "min": 5, "max": 1}, "'photons': min 5 is greater than max 1"),
        ({"column": "sigma", "min": float("nan")}, "'sigma': bounds must be numbers"),
        ({"column": "", "min": 1}, "column name"),
    ],
)
def test_invalid_filter_specs_name_the_column(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Filter(**kwargs)  # type: ignore[arg-type]


def test_mask_errors_name_the_column(small: np.ndarray) -> None:
    with pytest.raises(ValueError, match="'brightness' is not in the table"):
        Filter("brightness", min=1).mask(small)
    with pytest.raises(ValueError, match="'photons': give \\[min, max\\]"):
        parse_filters({"photons": [1, 2, 3]})
    with pytest.raises(ValueError, match="'photons': bound 'abc'"):
        parse_filters({"photons": ["abc", 2]})
    with pytest.raises(ValueError, match="Filter objects"):
        parse_filters(["photons"])  # type: ignore[list-item]


def test_nena_recovers_simulated_precision(sites_table: Callable[..., np.ndarray]) -> None:
    t = sites_table(n_frames=300, n_sites=150, p_on=0.3, drift=lambda f: (f * 0, f * 0), precision_nm=12.0, seed=9)
    r = nena(t)
    assert r.n_pairs > 1000
    assert r.sigma_nm == pytest.approx(12.0, rel=0.1)


def test_nena_needs_pairs() -> None:
    t = empty_results(10)
    t["frame"] = np.arange(0, 20, 2)  # no adjacent frames
    with pytest.raises(AnalysisError, match="neighbour pairs"):
        nena(t)
