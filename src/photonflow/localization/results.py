"""The one results table every localization step produces and consumes.

A results table is a numpy structured array of :data:`LOCALIZATION_DTYPE`, one row per localization.
Positions and sizes are in nanometres in the camera frame (pixel (0, 0) spans 0..pixel_size nm, so the centre
of pixel ``i`` is at ``(i + 0.5) * pixel_size``); photon counts are photoelectrons; ``bg`` is photons per pixel.
The ``*_err`` columns are the square roots of the Cramér–Rao lower bound of the fitted model at the fitted
parameters (what Picasso reports as ``lpx``/``lpy``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOCALIZATION_DTYPE", "empty_results"]

LOCALIZATION_DTYPE = np.dtype(
    [
        ("frame", np.int32),  # frame index in the series (PYME's tIndex)
        ("x", np.float32),  # nm
        ("y", np.float32),  # nm
        ("photons", np.float32),  # total photoelectrons in the PSF
        ("bg", np.float32),  # photoelectrons per pixel
        ("sigma", np.float32),  # PSF standard deviation, nm
        ("x_err", np.float32),  # nm, sqrt(CRLB)
        ("y_err", np.float32),  # nm
        ("photons_err", np.float32),
        ("bg_err", np.float32),
        ("sigma_err", np.float32),  # nm; 0 when sigma was fixed
        ("loglik", np.float32),  # log-likelihood at the optimum (MLE); NaN for LSQ
        ("chi2", np.float32),  # reduced chi-squared of the fit residuals
        ("iterations", np.int16),
        ("converged", np.bool_),
        ("detection_score", np.float32),  # band-passed peak height over the noise threshold
    ]
)


def empty_results(n: int = 0) -> np.ndarray:
    """Return a zero-filled results table with ``n`` rows."""
    return np.zeros(n, dtype=LOCALIZATION_DTYPE)
