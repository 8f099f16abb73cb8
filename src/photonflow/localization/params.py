"""Localization parameters: one frozen, validated dataclass (read from config/CLI at entry points only)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

from photonflow.errors import ConfigError

__all__ = ["LocalizationParams"]


@dataclass(frozen=True)
class LocalizationParams:
    """Everything :func:`photonflow.localization.localize` needs besides the frames and the camera.

    Attributes
    ----------
    threshold : float
        Detection threshold, band-passed signal-to-noise ratio (see :mod:`photonflow.localization.detect`).
    bg_range : (int, int)
        Background window ``[lo, hi)`` relative to each frame (PYME ``Analysis.BGRange``); frame t is excluded.
    bg_percentile : float
        0 for the window mean, else the per-pixel percentile in (0, 1] (PYME ``Analysis.PCTBackground``).
    roi_size : int
        Side of the fitted ROI, pixels (odd).
    method : {"mle", "lsq"}
        Integrated-Gaussian maximum likelihood, or PYME-style weighted least squares.
    fit_sigma : bool
        Fit the PSF width (MLE) or hold it at ``psf_sigma``.
    psf_sigma : float
        PSF standard deviation in nm: the start value, or the fixed value (PYME ``Analysis.PSFSigmaGuess``).
    likelihood : {"poisson", "scmos"}
        "scmos" adds the camera's per-pixel read variance to data and model (Huang et al. 2013).
    pixel_size : float
        nm per pixel.
    frame_offset : int
        Frame number of the first frame given to :func:`localize`.
    min_distance : float
        Debounce radius, pixels.
    sigma_low, sigma_high : float
        Band-pass widths, pixels.
    max_iter : int
        Fit iteration limit.
    batch_size : int
        ROIs collected before one parallel fit call (bounds memory).
    """

    threshold: float = 6.0
    bg_range: tuple[int, int] = (-30, 0)
    bg_percentile: float = 0.0
    roi_size: int = 7
    method: Literal["mle", "lsq"] = "mle"
    fit_sigma: bool = True
    psf_sigma: float = 130.0
    likelihood: Literal["poisson", "scmos"] = "poisson"
    pixel_size: float = 100.0
    frame_offset: int = 0
    min_distance: float = 2.0
    sigma_low: float = 1.0
    sigma_high: float = 3.0
    max_iter: int = 50
    batch_size: int = 4096

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"LocalizationParams.{name} {why}, got {getattr(self, name)!r}")

        for name in ("threshold", "psf_sigma", "pixel_size", "sigma_low", "sigma_high", "min_distance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise bad(name, "must be a finite number")
        for name in ("threshold", "psf_sigma", "pixel_size", "sigma_low", "sigma_high"):
            if getattr(self, name) <= 0:
                raise bad(name, "must be > 0")
        if self.min_distance < 0:
            raise bad("min_distance", "must be >= 0 pixels")
        if self.sigma_high <= self.sigma_low:
            raise bad("sigma_high", "must be larger than sigma_low")
        try:
            lo, hi = (int(v) for v in self.bg_range)
        except (TypeError, ValueError):
            raise bad("bg_range", "must be a pair of integers (lo, hi)") from None
        if lo > hi:
            raise bad("bg_range", "must have lo <= hi")
        object.__setattr__(self, "bg_range", (lo, hi))
        if not 0 <= self.bg_percentile <= 1:
            raise bad("bg_percentile", "must be in [0, 1] (0 = mean)")
        if not isinstance(self.roi_size, int) or self.roi_size < 3 or self.roi_size % 2 == 0:
            raise bad("roi_size", "must be an odd integer >= 3")
        if self.method not in ("mle", "lsq"):
            raise bad("method", "must be 'mle' or 'lsq'")
        if self.likelihood not in ("poisson", "scmos"):
            raise bad("likelihood", "must be 'poisson' or 'scmos'")
        if self.likelihood == "scmos" and self.method != "mle":
            raise bad("likelihood", "'scmos' needs method='mle'")
        for name in ("frame_offset", "max_iter", "batch_size"):
            if not isinstance(getattr(self, name), int):
                raise bad(name, "must be an integer")
        if self.frame_offset < 0:
            raise bad("frame_offset", "must be >= 0")
        if self.max_iter < 1 or self.batch_size < 1:
            raise bad("max_iter" if self.max_iter < 1 else "batch_size", "must be >= 1")

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> LocalizationParams:
        """Build from a plain mapping (YAML/JSON), rejecting unknown keys by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ConfigError(f"unknown localization parameter(s) {unknown}; known: {sorted(known)}")
        values = dict(mapping)
        if "bg_range" in values:
            values["bg_range"] = tuple(values["bg_range"])
        return cls(**values)
