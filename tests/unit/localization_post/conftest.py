"""Simulated localization tables for the post-processing tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from photonflow.localization.results import empty_results

DriftFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def blinking_sites(
    *,
    n_frames: int,
    n_sites: int,
    p_on: float,
    drift: DriftFn,
    precision_nm: float = 8.0,
    seed: int = 1,
) -> np.ndarray:
    """Fixed binding sites in a 10 µm field, each on in a frame with probability ``p_on``, displaced by ``drift``."""
    rng = np.random.default_rng(seed)
    sites = rng.uniform(500, 9500, (n_sites, 2))
    frame, site = np.nonzero(rng.random((n_frames, n_sites)) < p_on)
    table = empty_results(frame.size)
    dx, dy = drift(frame.astype(np.float64))
    table["frame"] = frame
    table["x"] = sites[site, 0] + rng.normal(0, precision_nm, frame.size) + dx
    table["y"] = sites[site, 1] + rng.normal(0, precision_nm, frame.size) + dy
    table["x_err"] = precision_nm
    table["y_err"] = precision_nm
    table["photons"] = rng.uniform(500, 5000, frame.size)
    table["sigma"] = rng.normal(130, 10, frame.size)
    return table


@pytest.fixture
def sites_table() -> Callable[..., np.ndarray]:
    return blinking_sites
