"""Camera model: ADU → photoelectrons and the per-pixel noise model (EMCCD and sCMOS).

A :class:`Camera` describes how a detected photoelectron becomes an ADU count::

    ADU = (EMgain · e · g_px + read noise) / ElectronsPerCount + dark

with ``g_px = 1 / flat`` the per-pixel gain non-uniformity (PYME's flatfield map multiplies the dark-subtracted
data). :meth:`Camera.to_photoelectrons` inverts it; :meth:`Camera.noise_variance` gives the per-pixel variance of the
converted data, in photoelectrons², which detection thresholds and the sCMOS likelihood use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from photonflow.errors import AnalysisError

__all__ = ["Camera"]


def _optional_map(value: Any, name: str) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim != 2:
        raise AnalysisError(f"Camera.{name} must be a 2-D per-pixel map, got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


@numba.njit(cache=True, nogil=True)
def _convert_frame(
    adu: np.ndarray, dark: np.ndarray, dark_const: float, flat: np.ndarray, scale: float, out: np.ndarray
) -> None:
    """One pass ``out = (adu − dark) · flat · scale``; empty ``dark``/``flat`` maps mean the constant/1."""
    nr, nc = adu.shape
    has_dark = dark.shape[0] > 0
    has_flat = flat.shape[0] > 0
    s = np.float32(scale)
    d0 = np.float32(dark_const)
    for i in range(nr):
        a = adu[i]
        o = out[i]
        if has_dark and has_flat:
            dk = dark[i]
            fl = flat[i]
            for j in range(nc):
                o[j] = (np.float32(a[j]) - dk[j]) * fl[j] * s
        elif has_dark:
            dk = dark[i]
            for j in range(nc):
                o[j] = (np.float32(a[j]) - dk[j]) * s
        elif has_flat:
            fl = flat[i]
            for j in range(nc):
                o[j] = (np.float32(a[j]) - d0) * fl[j] * s
        else:
            for j in range(nc):
                o[j] = (np.float32(a[j]) - d0) * s


_NO_MAP = np.zeros((0, 0), np.float32)
_NO_MAP.setflags(write=False)


@dataclass(frozen=True, eq=False)
class Camera:
    """Frozen description of a camera, in PYME's terms (compute.md §3.1).

    Parameters
    ----------
    baseline : float
        Dark level in ADU (PYME ``Camera.ADOffset``); used where there is no ``dark_map``.
    electrons_per_count : float
        e⁻ per ADU at the output of the (EM) register (PYME ``Camera.ElectronsPerCount``).
    em_gain : float
        True EM gain, 1 for sCMOS/CCD (PYME ``Camera.TrueEMGain``).
    read_noise : float
        Read noise in e⁻ rms at the output, used where there is no ``variance_map`` (PYME ``Camera.ReadNoise``).
    noise_factor : float
        Excess noise factor F (√2 ≈ 1.41 for EMCCD, 1 otherwise; PYME ``Camera.NoiseFactor``). Variances of
        photoelectron counts are F² × the Poisson variance.
    quantum_efficiency : float
        Photons → photoelectrons; only the simulator uses it (fits report photoelectrons).
    spurious_charge : float
        Probability per pixel and frame of a clock-induced electron before the EM register (simulator only).
    dark_map, flat_map, variance_map : ndarray of shape (H, W), optional
        Per-pixel dark level (ADU), flatfield multiplier (unitless, mean ≈ 1) and read-noise variance (e⁻²).
    """

    baseline: float = 100.0
    electrons_per_count: float = 1.0
    em_gain: float = 1.0
    read_noise: float = 0.0
    noise_factor: float = 1.0
    quantum_efficiency: float = 1.0
    spurious_charge: float = 0.0
    dark_map: np.ndarray | None = field(default=None, repr=False)
    flat_map: np.ndarray | None = field(default=None, repr=False)
    variance_map: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("electrons_per_count", "em_gain", "noise_factor", "quantum_efficiency"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise AnalysisError(f"Camera.{name} must be a positive number, got {value!r}")
        if not (math.isfinite(self.read_noise) and self.read_noise >= 0):
            raise AnalysisError(f"Camera.read_noise must be >= 0 e⁻ rms, got {self.read_noise!r}")
        if not 0 <= self.spurious_charge < 1:
            raise AnalysisError(f"Camera.spurious_charge must be a probability in [0, 1), got {self.spurious_charge!r}")
        shapes = set()
        for name in ("dark_map", "flat_map", "variance_map"):
            arr = _optional_map(getattr(self, name), name)
            object.__setattr__(self, name, arr)
            if arr is not None:
                shapes.add(arr.shape)
        if len(shapes) > 1:
            raise AnalysisError(f"Camera maps must share one shape, got {sorted(shapes)}")

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], **maps: np.ndarray | None) -> Camera:
        """Build a camera from PYME metadata keys (``Camera.ADOffset``, ``Camera.ElectronsPerCount``, ...).

        Parameters
        ----------
        metadata : mapping
            Flat mapping with dotted PYME keys. ``Camera.ElectronsPerCount``, ``Camera.ReadNoise`` and
            ``Camera.NoiseFactor`` are required; ``Camera.TrueEMGain`` defaults to 1 and ``Camera.ADOffset`` to 0.
        **maps : ndarray, optional
            ``dark_map``, ``flat_map``, ``variance_map`` already loaded for the map IDs the metadata names (I/O
            stays with the caller).
        """
        missing = [
            k for k in ("Camera.ElectronsPerCount", "Camera.ReadNoise", "Camera.NoiseFactor") if k not in metadata
        ]
        if missing:
            raise AnalysisError(f"series metadata lacks {', '.join(missing)}; add them (see compute.md §3.1)")
        unknown = set(maps) - {"dark_map", "flat_map", "variance_map"}
        if unknown:
            raise AnalysisError(f"unknown camera map(s) {sorted(unknown)}; use dark_map, flat_map, variance_map")
        return cls(
            baseline=float(metadata.get("Camera.ADOffset", 0.0)),
            electrons_per_count=float(metadata["Camera.ElectronsPerCount"]),
            em_gain=float(metadata.get("Camera.TrueEMGain", 1.0)),
            read_noise=float(metadata["Camera.ReadNoise"]),
            noise_factor=float(metadata["Camera.NoiseFactor"]),
            dark_map=maps.get("dark_map"),
            flat_map=maps.get("flat_map"),
            variance_map=maps.get("variance_map"),
        )

    def to_metadata(self) -> dict[str, float]:
        """The scalar PYME ``Camera.*`` keys describing this camera (maps are not included)."""
        return {
            "Camera.ADOffset": self.baseline,
            "Camera.ElectronsPerCount": self.electrons_per_count,
            "Camera.TrueEMGain": self.em_gain,
            "Camera.ReadNoise": self.read_noise,
            "Camera.NoiseFactor": self.noise_factor,
        }

    # -- conversion ---------------------------------------------------------------------------------------------
    @property
    def photoelectrons_per_adu(self) -> float:
        """Scale from dark-subtracted, flatfielded ADU to photoelectrons."""
        return self.electrons_per_count / self.em_gain

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Raise :class:`AnalysisError` if the per-pixel maps do not match frames of ``shape``."""
        for name in ("dark_map", "flat_map", "variance_map"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != tuple(shape):
                raise AnalysisError(
                    f"Camera.{name} has shape {arr.shape} but frames are {tuple(shape)}; crop the map to the "
                    "acquisition ROI (Camera.ROIOriginX/Y)"
                )

    def to_photoelectrons(self, adu: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Convert a frame (or stack) of raw ADU counts to photoelectrons, as float32.

        ``e = (ADU − dark) · flat · ElectronsPerCount / EMgain``.
        """
        adu = np.asarray(adu)
        if out is None:
            out = np.empty(adu.shape, dtype=np.float32)
        if adu.ndim == 2 and adu.flags.c_contiguous and out.flags.c_contiguous and out.dtype == np.float32:
            # the per-frame path of the pipeline: one pass instead of one per operation
            _convert_frame(
                adu, _NO_MAP if self.dark_map is None else self.dark_map, float(self.baseline),
                _NO_MAP if self.flat_map is None else self.flat_map, float(self.photoelectrons_per_adu), out,
            )  # fmt: skip
            return out
        dark: np.ndarray | float = self.dark_map if self.dark_map is not None else self.baseline
        np.subtract(adu, dark, out=out, dtype=np.float32, casting="unsafe")
        if self.flat_map is not None:
            out *= self.flat_map
        out *= np.float32(self.photoelectrons_per_adu)
        return out

    def read_variance(self, shape: tuple[int, int]) -> np.ndarray:
        """Per-pixel read-noise variance referred to the photoelectron scale (e⁻² / EMgain²), float32."""
        if self.variance_map is not None:
            var = self.variance_map.astype(np.float32)
            if self.flat_map is not None:
                var = var * self.flat_map**2
        else:
            var = np.full(shape, self.read_noise**2, dtype=np.float32)
        return var / np.float32(self.em_gain**2)

    def noise_variance(self, expected: np.ndarray, read_variance: np.ndarray | None = None) -> np.ndarray:
        """Per-pixel variance (photoelectrons²) of converted data whose expectation is ``expected`` photoelectrons.

        ``var = F² · max(expected, 1) + read variance / EMgain²``; the floor of one photoelectron mirrors PYME's
        noise model (compute.md §3.2 step 3).
        """
        if read_variance is None:
            read_variance = self.read_variance((expected.shape[-2], expected.shape[-1]))
        return np.float32(self.noise_factor**2) * np.maximum(expected, 1.0, dtype=np.float32) + read_variance
