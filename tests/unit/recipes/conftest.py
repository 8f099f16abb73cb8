"""Synthetic localization tables for the recipe tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from photonflow.localization.results import empty_results

N_FRAMES = 3000


def drifting_sites(*, n_frames: int = N_FRAMES, n_sites: int = 300, p_on: float = 0.03, seed: int = 3) -> np.ndarray:
    """Blinking fixed sites in a 6 µm field, drifting linearly by (+45, −30) nm over the run; precision 8 nm."""
    rng = np.random.default_rng(seed)
    sites = rng.uniform(400, 5600, (n_sites, 2))
    frame, site = np.nonzero(rng.random((n_frames, n_sites)) < p_on)
    table = empty_results(frame.size)
    table["frame"] = frame
    table["x"] = sites[site, 0] + rng.normal(0, 8, frame.size) + 45 * frame / n_frames
    table["y"] = sites[site, 1] + rng.normal(0, 8, frame.size) - 30 * frame / n_frames
    table["x_err"] = rng.uniform(4, 12, frame.size)
    table["y_err"] = rng.uniform(4, 12, frame.size)
    table["photons"] = rng.uniform(200, 5000, frame.size)
    table["bg"] = rng.uniform(5, 20, frame.size)
    table["sigma"] = rng.normal(130, 10, frame.size)
    table["converged"] = True
    return table


@pytest.fixture(scope="session")
def drifting_table() -> np.ndarray:
    return drifting_sites()


@pytest.fixture
def small_table() -> Callable[[], np.ndarray]:
    """Five rows with hand-picked values, for known-answer tests."""

    def make() -> np.ndarray:
        t = empty_results(5)
        t["frame"] = [0, 1, 2, 3, 4]
        t["x"] = [100.0, 200.0, 300.0, 400.0, 500.0]
        t["y"] = [50.0, 60.0, 70.0, 80.0, 90.0]
        t["photons"] = [100.0, 400.0, 900.0, 1600.0, np.nan]
        t["bg"] = [1.0, 2.0, 3.0, 4.0, 5.0]
        t["x_err"] = [3.0, 6.0, 30.0, 31.0, 5.0]
        t["y_err"] = [4.0, 8.0, 40.0, 1.0, 5.0]
        t["sigma"] = 120.0
        return t

    return make
