"""Map photonflow's results table to PYME's ``FitResults`` records (``LatGaussFitFR``, 108 bytes) and back.

PYME's record (compute.md §3.2 step 9): ``tIndex``; ``fitResults`` and ``fitError`` with ``A`` (peak amplitude, ADU),
``x0``/``y0``/``sigma`` (nm), ``background`` (ADU), ``bx``/``by`` (ADU/nm); ``resultCode`` (MINPACK ``ier``, 1-4 =
converged); ``slicesUsed`` (ROI, pixels); ``subtractedBackground`` (ADU); ``nchi2``.

Conventions bridged here:

* photonflow puts pixel ``i``'s centre at ``(i + 0.5) * pixel_size``; PYME at ``i * pixel_size``, so
  ``x0 = x − pixel_size / 2``.
* photons ↔ amplitude: ``photons = A · 2π · (σ / pixel_size)² · EPC / G`` (PYMEVis' ``nPhotons``), and counts in ADU
  are ``photoelectrons · G / EPC``, with ``EPC`` = ``Camera.ElectronsPerCount`` and ``G`` = ``Camera.TrueEMGain``.
* ``converged`` ↔ ``resultCode`` 1 (converged) / 5 (evaluation limit reached).
* ``slicesUsed`` is rebuilt as a ``2·roi_half_size + 1`` square around the localization's pixel (clipped at 0);
  the frame edge is unknown here, so edge ROIs are not clipped on the far side.

Columns PYME has no place for (``loglik``, ``iterations``, ``detection_score``) are dropped on the way out and come
back as NaN / 0 / NaN.
"""

from __future__ import annotations

import math

import numpy as np

from photonflow.errors import FormatError
from photonflow.localization.results import LOCALIZATION_DTYPE

__all__ = ["PYME_FITRESULTS_DTYPE", "from_pyme_fitresults", "to_pyme_fitresults"]

_PARAMS = [("A", "<f4"), ("x0", "<f4"), ("y0", "<f4"), ("sigma", "<f4"), ("background", "<f4"), ("bx", "<f4"),
           ("by", "<f4")]  # fmt: skip
_SLICE = [("start", "<i4"), ("stop", "<i4"), ("step", "<i4")]
PYME_FITRESULTS_DTYPE = np.dtype(
    [
        ("tIndex", "<i4"),
        ("fitResults", _PARAMS),
        ("fitError", _PARAMS),
        ("resultCode", "<i4"),
        ("slicesUsed", [("x", _SLICE), ("y", _SLICE), ("z", _SLICE)]),
        ("subtractedBackground", "<f4"),
        ("nchi2", "<f4"),
    ]
)

_CONVERGED = 1
_NOT_CONVERGED = 5


def _pixel_sizes(pixel_size_nm: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(pixel_size_nm, tuple):
        px, py = float(pixel_size_nm[0]), float(pixel_size_nm[1])
    else:
        px = py = float(pixel_size_nm)
    if not (px > 0 and py > 0 and math.isfinite(px) and math.isfinite(py)):
        raise ValueError(f"pixel_size_nm must be positive and finite, got {pixel_size_nm!r}")
    return px, py


def _adu_per_photon(electrons_per_count: float, true_em_gain: float) -> float:
    if not (electrons_per_count > 0 and true_em_gain > 0):
        raise ValueError(
            f"electrons_per_count and true_em_gain must be > 0, got {electrons_per_count!r}, {true_em_gain!r}"
        )
    return true_em_gain / electrons_per_count


def to_pyme_fitresults(
    table: np.ndarray,
    *,
    pixel_size_nm: float | tuple[float, float],
    electrons_per_count: float = 1.0,
    true_em_gain: float = 1.0,
    roi_half_size: int = 5,
) -> np.ndarray:
    """Convert a :data:`~photonflow.localization.results.LOCALIZATION_DTYPE` table to PYME ``FitResults`` records.

    Parameters
    ----------
    table : ndarray of LOCALIZATION_DTYPE, shape (N,)
    pixel_size_nm : float or (float, float)
        Camera pixel size (x, y), nm.
    electrons_per_count, true_em_gain : float
        ``Camera.ElectronsPerCount`` and ``Camera.TrueEMGain``, to express amplitudes and backgrounds in ADU as PYME
        does. The defaults (1, 1) leave them in photoelectrons.
    roi_half_size : int
        Half-size of the ROI recorded in ``slicesUsed`` (PYME's ``Analysis.ROISize``).

    Returns
    -------
    ndarray of PYME_FITRESULTS_DTYPE, shape (N,)
    """
    if table.dtype != LOCALIZATION_DTYPE:
        raise FormatError(f"expected a LOCALIZATION_DTYPE table, got dtype {table.dtype}")
    px, py = _pixel_sizes(pixel_size_nm)
    k = _adu_per_photon(electrons_per_count, true_em_gain)
    t = table.reshape(-1)
    out = np.zeros(t.shape[0], PYME_FITRESULTS_DTYPE)
    out["tIndex"] = t["frame"]
    sigma = t["sigma"].astype(np.float64)
    # Integrated Gaussian volume in pixels: photons = A * 2π (σ/px)² / k.
    volume = 2.0 * np.pi * (sigma / px) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        amp = np.where(volume > 0, t["photons"] * k / volume, 0.0)
        amp_err = np.where(volume > 0, t["photons_err"] * k / volume, 0.0)
    fr, fe = out["fitResults"], out["fitError"]
    fr["A"] = amp
    fr["x0"] = t["x"] - px / 2
    fr["y0"] = t["y"] - py / 2
    fr["sigma"] = sigma
    fr["background"] = t["bg"] * k
    fe["A"] = amp_err
    fe["x0"] = t["x_err"]
    fe["y0"] = t["y_err"]
    fe["sigma"] = t["sigma_err"]
    fe["background"] = t["bg_err"] * k
    out["resultCode"] = np.where(t["converged"], _CONVERGED, _NOT_CONVERGED)
    h = int(roi_half_size)
    for axis, col, size in (("x", "x", px), ("y", "y", py)):
        centre = np.floor(t[col] / size).astype(np.int64)
        sl = out["slicesUsed"][axis]
        sl["start"] = np.maximum(centre - h, 0)
        sl["stop"] = centre + h + 1
        sl["step"] = 1
    out["slicesUsed"]["z"]["stop"] = 1
    out["slicesUsed"]["z"]["step"] = 1
    out["nchi2"] = t["chi2"]
    return out


def from_pyme_fitresults(
    records: np.ndarray,
    *,
    pixel_size_nm: float | tuple[float, float],
    electrons_per_count: float = 1.0,
    true_em_gain: float = 1.0,
) -> np.ndarray:
    """Convert PYME ``FitResults`` records to a :data:`~photonflow.localization.results.LOCALIZATION_DTYPE` table.

    Only the columns used are required: ``tIndex`` and ``fitResults`` {``A``, ``x0``, ``y0``, ``sigma``,
    ``background``}; ``fitError``, ``resultCode``, ``subtractedBackground`` and ``nchi2`` are used when present.
    PYME's background is the sum of ``fitResults.background`` and ``subtractedBackground``. A negative fitted σ
    (PYME does not constrain its sign) becomes ``|σ|``; errors of −5000 (PYME: unavailable) become NaN.

    Raises
    ------
    FormatError
        A required column is missing.
    """
    names = records.dtype.names or ()
    if "tIndex" not in names or "fitResults" not in names:
        raise FormatError(f"not PYME FitResults records (need tIndex and fitResults), got columns {names}")
    fr = records["fitResults"]
    need = {"A", "x0", "y0", "sigma", "background"}
    if not need <= set(fr.dtype.names or ()):
        raise FormatError(f"PYME fitResults lacks {sorted(need - set(fr.dtype.names or ()))}")
    px, py = _pixel_sizes(pixel_size_nm)
    k = _adu_per_photon(electrons_per_count, true_em_gain)
    n = records.shape[0]
    out = np.zeros(n, LOCALIZATION_DTYPE)
    out["frame"] = records["tIndex"]
    sigma = np.abs(fr["sigma"].astype(np.float64))
    volume = 2.0 * np.pi * (sigma / px) ** 2
    out["x"] = fr["x0"] + px / 2
    out["y"] = fr["y0"] + py / 2
    out["sigma"] = sigma
    out["photons"] = fr["A"] * volume / k
    bg = fr["background"].astype(np.float64)
    if "subtractedBackground" in names:
        bg = bg + records["subtractedBackground"]
    out["bg"] = bg / k
    if "fitError" in names:
        fe = records["fitError"]
        efields = set(fe.dtype.names or ())

        def err(name: str) -> np.ndarray:
            if name not in efields:
                return np.full(n, np.nan)
            e = fe[name].astype(np.float64)
            return np.where(e == -5000, np.nan, e)

        out["x_err"] = err("x0")
        out["y_err"] = err("y0")
        out["sigma_err"] = err("sigma")
        out["photons_err"] = err("A") * volume / k
        out["bg_err"] = err("background") / k
    else:
        for col in ("x_err", "y_err", "sigma_err", "photons_err", "bg_err"):
            out[col] = np.nan
    out["loglik"] = np.nan
    out["chi2"] = records["nchi2"] if "nchi2" in names else np.nan
    out["converged"] = (records["resultCode"] >= 1) & (records["resultCode"] <= 4) if "resultCode" in names else True
    out["detection_score"] = np.nan
    return out
