"""Matching and scoring against ground truth on hand-made cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from photonflow.localization.metrics import efficiency, match
from photonflow.localization.results import empty_results


def _pts(*rows: tuple[int, float, float]) -> np.ndarray:
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def test_perfect_match_scores_one() -> None:
    gt = _pts((0, 100, 100), (0, 500, 500), (3, 10, 10))
    r = match(gt.copy(), gt)
    assert (r.tp, r.fp, r.fn) == (3, 0, 0)
    assert r.jaccard == 1.0 and r.recall == 1.0 and r.precision == 1.0
    assert r.rmse_lateral == 0.0
    assert r.efficiency == 100.0


def test_known_counts_rmse_and_efficiency() -> None:
    # Frame 0: one 3-4-5 offset pair and a missed emitter; frame 1: one 6-8-10 pair and a far false positive.
    gt = _pts((0, 100, 100), (0, 900, 100), (1, 100, 100))
    locs = _pts((0, 103, 104), (1, 106, 108), (1, 2000, 100))
    r = match(locs, gt)
    assert (r.tp, r.fp, r.fn) == (2, 1, 1)
    assert r.jaccard == pytest.approx(0.5)
    assert r.recall == pytest.approx(2 / 3) and r.precision == pytest.approx(2 / 3)
    assert r.rmse_lateral == pytest.approx(math.sqrt((25 + 100) / 2))
    assert r.efficiency == pytest.approx(100 - math.sqrt(50**2 + 62.5))
    np.testing.assert_array_equal(r.loc_index, [0, 1])
    np.testing.assert_array_equal(r.gt_index, [0, 2])
    np.testing.assert_allclose(r.dx, [3, 6])
    np.testing.assert_allclose(r.dy, [4, 8])


def test_points_in_other_frames_never_match() -> None:
    gt = _pts((0, 100, 100))
    locs = _pts((1, 100, 100))
    r = match(locs, gt)
    assert (r.tp, r.fp, r.fn) == (0, 1, 1)
    assert r.jaccard == 0.0
    assert math.isnan(r.rmse_lateral) and math.isnan(r.efficiency)


def test_tolerance_is_inclusive_and_configurable() -> None:
    gt = _pts((0, 0, 0))
    assert match(_pts((0, 250, 0)), gt).tp == 1
    assert match(_pts((0, 250.5, 0)), gt).tp == 0
    assert match(_pts((0, 40, 0)), gt, tolerance_nm=30).tp == 0


def test_greedy_loses_a_pair_that_hungarian_keeps() -> None:
    # p lies 45 nm from a and 55 nm from b; q lies 50 nm from a and out of range of b. Greedy takes the nearest
    # pair p-a, leaving q without a partner; the optimal assignment pairs p-b and q-a.
    gt = _pts((0, 0, 0), (0, 100, 0))
    locs = _pts((0, 45, 0), (0, -50, 0))
    g = match(locs, gt, tolerance_nm=60, method="greedy")
    h = match(locs, gt, tolerance_nm=60, method="hungarian")
    assert (g.tp, g.fp, g.fn) == (1, 1, 1)
    np.testing.assert_array_equal(g.gt_index, [0])
    assert (h.tp, h.fp, h.fn) == (2, 0, 0)
    np.testing.assert_array_equal(h.loc_index, [0, 1])
    np.testing.assert_array_equal(h.gt_index, [1, 0])
    assert h.rmse_lateral == pytest.approx(math.sqrt((55**2 + 50**2) / 2))


def test_hungarian_prefers_smaller_total_distance_among_full_matchings() -> None:
    gt = _pts((0, 0, 0), (0, 10, 0))
    locs = _pts((0, 1, 0), (0, 11, 0))
    h = match(locs, gt, method="hungarian")
    np.testing.assert_array_equal(h.gt_index, [0, 1])
    assert h.rmse_lateral == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["greedy", "hungarian"])
def test_methods_agree_on_random_sparse_scenes(method: str) -> None:
    rng = np.random.default_rng(7)
    n = 2000
    gt = np.column_stack([rng.integers(0, 200, n), rng.uniform(0, 20000, n), rng.uniform(0, 20000, n)])
    locs = gt.copy()
    locs[:, 1:] += rng.normal(0, 10, (n, 2))
    locs = locs[rng.permutation(n)[: n - 100]]  # 100 misses
    r = match(locs, gt, method=method)  # type: ignore[arg-type]
    assert (r.tp, r.fp, r.fn) == (n - 100, 0, 100)
    assert r.rmse_lateral == pytest.approx(10 * math.sqrt(2), rel=0.1)
    assert abs(r.dx.mean()) < 1.5 and abs(r.dy.mean()) < 1.5


def test_accepts_results_table_and_tuple_inputs() -> None:
    table = empty_results(2)
    table["frame"] = [4, 5]
    table["x"] = [10.0, 20.0]
    table["y"] = [30.0, 40.0]
    gt_struct = np.zeros(2, dtype=[("frame", "i4"), ("x", "f8"), ("y", "f8"), ("photons", "f4")])
    gt_struct["frame"] = [4, 5]
    gt_struct["x"] = [12.0, 20.0]
    gt_struct["y"] = [30.0, 40.0]
    assert match(table, gt_struct).tp == 2
    assert match(table, (gt_struct["frame"], gt_struct["x"], gt_struct["y"])).tp == 2


def test_empty_inputs() -> None:
    r = match(np.empty((0, 3)), _pts((0, 1, 1)))
    assert (r.tp, r.fp, r.fn) == (0, 0, 1)
    assert r.jaccard == 0.0 and math.isnan(r.precision) and r.recall == 0.0
    assert math.isnan(match(np.empty((0, 3)), np.empty((0, 3))).jaccard)


@pytest.mark.parametrize(
    ("locs", "kwargs", "message"),
    [
        (np.zeros((3, 2)), {}, "shape"),
        (np.zeros(2, dtype=[("frame", "i4"), ("x", "f4")]), {}, "'y'"),
        ((np.zeros(2), np.zeros(2)), {}, "three arrays"),
        ((np.zeros(2), np.zeros(3), np.zeros(2)), {}, "different lengths"),
        (np.array([[0, np.nan, 1.0]]), {}, "finite"),
        (np.zeros((1, 3)), {"tolerance_nm": 0}, "tolerance_nm"),
        (np.zeros((1, 3)), {"method": "magic"}, "method"),
    ],
)
def test_invalid_inputs_raise_with_clear_messages(locs: object, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        match(locs, np.zeros((1, 3)), **kwargs)  # type: ignore[arg-type]


def test_efficiency_formula() -> None:
    assert efficiency(1.0, 0.0) == 100.0
    assert efficiency(0.7, 40.0) == pytest.approx(50.0)
    assert efficiency(0.7, 40.0, alpha=0.5) == pytest.approx(100 - math.sqrt(900 + 400))
