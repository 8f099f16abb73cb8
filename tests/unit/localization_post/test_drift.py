"""RCC drift estimation on simulated blinking structures with a known drift, and its fallbacks."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest

from photonflow.errors import AnalysisError
from photonflow.localization.drift import DriftWarning, _solve_redundant, apply_drift, estimate_drift
from photonflow.localization.results import empty_results

N_FRAMES = 4000


def linear_plus_sine(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (
        40 * f / N_FRAMES + 20 * np.sin(2 * np.pi * f / 3000),
        -30 * f / N_FRAMES + 15 * np.cos(2 * np.pi * f / 2500),
    )


def linear(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return 60 * f / N_FRAMES, -45 * f / N_FRAMES


def _rms_error(trace_x: np.ndarray, trace_y: np.ndarray, true_x: np.ndarray, true_y: np.ndarray) -> float:
    # The absolute origin of a drift trace is arbitrary (it is zeroed at the first frame); compare shapes.
    ex = trace_x - true_x
    ey = trace_y - true_y
    return float(np.sqrt(np.mean((ex - ex.mean()) ** 2 + (ey - ey.mean()) ** 2)))


def test_rcc_recovers_linear_plus_sinusoidal_drift(sites_table: Callable[..., np.ndarray]) -> None:
    table = sites_table(n_frames=N_FRAMES, n_sites=400, p_on=0.025, drift=linear_plus_sine)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)
        trace = estimate_drift(table, segment_frames=250, pixel_size_nm=100)
    assert trace.method == "rcc"
    assert trace.segment_frames.size == 16
    assert trace.pairs_used + trace.pairs_rejected == 16 * 15 // 2
    np.testing.assert_array_equal(trace.frames, np.arange(N_FRAMES))
    assert trace.x[0] == 0 and trace.y[0] == 0
    true_x, true_y = linear_plus_sine(trace.frames.astype(np.float64))
    assert _rms_error(trace.x, trace.y, true_x, true_y) < 5.0


def test_apply_drift_removes_the_drift(sites_table: Callable[..., np.ndarray]) -> None:
    table = sites_table(n_frames=N_FRAMES, n_sites=400, p_on=0.025, drift=linear_plus_sine)
    trace = estimate_drift(table, segment_frames=250)
    corrected = apply_drift(table, trace)
    assert corrected.dtype == table.dtype and corrected is not table
    np.testing.assert_array_equal(corrected["frame"], table["frame"])
    true_x, true_y = linear_plus_sine(table["frame"].astype(np.float64))
    # What remains is the drift at frame 0 (a constant) plus the estimate's error.
    rx = corrected["x"] - (table["x"] - true_x)
    ry = corrected["y"] - (table["y"] - true_y)
    assert np.sqrt(np.mean((rx - rx.mean()) ** 2 + (ry - ry.mean()) ** 2)) < 5.0
    np.testing.assert_allclose([rx.mean(), ry.mean()], [0.0, 15.0], atol=5.0)


def test_sparse_segments_fall_back_to_fewer_segments(sites_table: Callable[..., np.ndarray]) -> None:
    table = sites_table(n_frames=N_FRAMES, n_sites=150, p_on=0.01, drift=linear, seed=3)  # ~6000 events
    with pytest.warns(DriftWarning, match="fewer than 1000 events; using [3-6] segments"):
        trace = estimate_drift(table, segment_frames=100, min_events_per_segment=1000)
    assert trace.method == "rcc"
    assert 3 <= trace.segment_frames.size <= 6
    true_x, true_y = linear(trace.frames.astype(np.float64))
    assert _rms_error(trace.x, trace.y, true_x, true_y) < 5.0


def test_very_sparse_data_uses_one_consecutive_correlation(sites_table: Callable[..., np.ndarray]) -> None:
    table = sites_table(n_frames=N_FRAMES, n_sites=100, p_on=0.004, drift=linear, seed=4)  # ~1600 events
    with pytest.warns(DriftWarning) as record:
        trace = estimate_drift(table, segment_frames=200, min_events_per_segment=1000)
    messages = " | ".join(str(w.message) for w in record)
    assert "two segments: a single consecutive correlation" in messages
    assert "may be noisy" in messages
    assert trace.method == "consecutive"
    assert trace.segment_frames.size == 2
    true_x, true_y = linear(trace.frames.astype(np.float64))
    assert _rms_error(trace.x, trace.y, true_x, true_y) < 5.0


def test_outlier_pair_is_rejected_and_system_resolved() -> None:
    truth = np.array([[0.0, 0.0], [10.0, -5.0], [25.0, 3.0], [31.0, 12.0], [40.0, 20.0]])
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    shifts = np.array([truth[j] - truth[i] for i, j in pairs])
    shifts[3] += [300.0, -200.0]  # pair (0, 4) is a false correlation peak
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)
        drift, used, rejected = _solve_redundant(pairs, shifts, 5, threshold=5.0)
    assert (used, rejected) == (9, 1)
    np.testing.assert_allclose(drift, truth, atol=1e-9)


def test_failed_pairs_are_skipped_but_connectivity_is_required() -> None:
    truth = np.array([[0.0, 0.0], [10.0, -5.0], [25.0, 3.0]])
    pairs = [(0, 1), (0, 2), (1, 2)]
    shifts = np.array([truth[j] - truth[i] for i, j in pairs])
    shifts[1] = np.nan
    drift, used, _ = _solve_redundant(pairs, shifts, 3, threshold=5.0)
    assert used == 2
    np.testing.assert_allclose(drift, truth, atol=1e-9)
    shifts[2] = np.nan  # segment 2 now correlates with nothing
    with pytest.raises(AnalysisError, match="max_drift_nm"):
        _solve_redundant(pairs, shifts, 3, threshold=5.0)


def test_single_frame_and_missing_columns_raise() -> None:
    table = empty_results(10)
    with pytest.raises(AnalysisError, match="at least two frames"):
        estimate_drift(table)
    with pytest.raises(ValueError, match="'frame'"):
        estimate_drift(np.zeros(3, dtype=[("x", "f4"), ("y", "f4")]))
    with pytest.raises(ValueError, match="segment_frames"):
        estimate_drift(table, segment_frames=0)


def test_trace_at_clamps_outside_frames(sites_table: Callable[..., np.ndarray]) -> None:
    table = sites_table(n_frames=N_FRAMES, n_sites=200, p_on=0.02, drift=linear, seed=5)
    trace = estimate_drift(table, segment_frames=500)
    dx, dy = trace.at(np.array([-10, 0, N_FRAMES - 1, N_FRAMES + 50]))
    assert dx[0] == dx[1] == 0 and dx[2] == dx[3] == trace.x[-1]
    assert dy[3] == trace.y[-1]
