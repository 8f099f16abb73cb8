"""Row filters on results tables by column ranges, and the NeNA localization-precision estimate.

A :class:`Filter` keeps rows whose column value lies in ``[min, max]`` (either bound may be open); NaN never passes.
PYME recipe filters (``{error_x: [0, 30]}``) are accepted by :func:`parse_filters`, with PYME's column names mapped
to ours (``error_x`` → ``x_err``, ``sig`` → ``sigma``, ``t``/``tIndex`` → ``frame``).

NeNA (Endesfelder et al., Histochem. Cell Biol. 141:629, 2014): a molecule that stays on for consecutive frames is
localized twice; the distance between the two localizations has the distribution
``p(d) = d / (2σ²) · exp(−d² / (4σ²))`` for a localization precision σ. Nearest neighbours in the next frame are
histogrammed and that model plus a linear term for unrelated neighbours is fitted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import curve_fit
from scipy.spatial import cKDTree

from photonflow.errors import AnalysisError

__all__ = ["PYME_ALIASES", "Filter", "NenaResult", "apply_filters", "filter_mask", "nena", "parse_filters"]

PYME_ALIASES = {"error_x": "x_err", "error_y": "y_err", "sig": "sigma", "t": "frame", "tIndex": "frame"}


@dataclass(frozen=True)
class Filter:
    """Keep rows with ``min <= table[column] <= max``; a bound of ``None`` is open.

    Examples
    --------
    >>> Filter("x_err", max=30).describe()
    'x_err <= 30'
    """

    column: str
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.column, str) or not self.column:
            raise ValueError(f"a filter needs a column name, got {self.column!r}")
        if self.min is None and self.max is None:
            raise ValueError(f"filter on {self.column!r}: give a min, a max or both")
        for bound in (self.min, self.max):
            if bound is not None and (not isinstance(bound, int | float) or math.isnan(bound)):
                raise ValueError(f"filter on {self.column!r}: bounds must be numbers or None, got {bound!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"filter on {self.column!r}: min {self.min} is greater than max {self.max}")

    def describe(self) -> str:
        """A one-line human description, e.g. ``"5 <= photons <= 2e+04"``."""
        lo = f"{self.min:g} <= " if self.min is not None else ""
        hi = f" <= {self.max:g}" if self.max is not None else ""
        return f"{lo}{self.column}{hi}"

    def mask(self, table: np.ndarray) -> np.ndarray:
        """Boolean mask of the rows of ``table`` that pass.

        Raises
        ------
        ValueError
            If ``table`` has no such column, or it is not numeric.
        """
        names = getattr(getattr(table, "dtype", None), "names", None) or ()
        if self.column not in names:
            raise ValueError(f"filter column {self.column!r} is not in the table; columns are {list(names)}")
        values = table[self.column]
        if values.dtype.kind not in "biuf":
            raise ValueError(f"filter column {self.column!r} has non-numeric dtype {values.dtype}")
        keep = np.ones(values.shape, dtype=bool) if values.dtype.kind != "f" else ~np.isnan(values)
        if self.min is not None:
            keep &= values >= self.min
        if self.max is not None:
            keep &= values <= self.max
        return keep


def parse_filters(spec: Mapping[str, Sequence[float | None]] | Iterable[Filter]) -> list[Filter]:
    """Build filters from ``{column: [min, max]}`` (PYME recipe style; PYME names are mapped) or pass filters on.

    Examples
    --------
    >>> [f.describe() for f in parse_filters({"error_x": [0, 30], "photons": [100, None]})]
    ['0 <= x_err <= 30', '100 <= photons']
    """
    if not isinstance(spec, Mapping):
        filters = list(spec)
        for f in filters:
            if not isinstance(f, Filter):
                raise ValueError(f"expected Filter objects or a {{column: [min, max]}} mapping, got {f!r}")
        return filters
    out = []
    for column, bounds in spec.items():
        if isinstance(bounds, str | bytes) or len(bounds) != 2:
            raise ValueError(f"filter on {column!r}: give [min, max] (use null/None for an open bound), got {bounds!r}")
        lo, hi = bounds
        out.append(Filter(PYME_ALIASES.get(column, column), _number(column, lo), _number(column, hi)))
    return out


def filter_mask(table: np.ndarray, filters: Mapping[str, Sequence[float | None]] | Iterable[Filter]) -> np.ndarray:
    """Mask of the rows that pass every filter (all rows when there is none)."""
    keep = np.ones(table.shape, dtype=bool)
    for f in parse_filters(filters):
        keep &= f.mask(table)
    return keep


def apply_filters(table: np.ndarray, filters: Mapping[str, Sequence[float | None]] | Iterable[Filter]) -> np.ndarray:
    """Return the rows of ``table`` that pass every filter (a new array).

    Examples
    --------
    >>> from photonflow.localization.results import empty_results
    >>> t = empty_results(3); t["photons"] = [50, 500, 5000]
    >>> apply_filters(t, [Filter("photons", min=100, max=1000)])["photons"].tolist()
    [500.0]
    """
    return table[filter_mask(table, filters)]


def _number(column: str, value: float | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"filter on {column!r}: bound {value!r} is not a number") from None


@dataclass(frozen=True)
class NenaResult:
    """NeNA estimate: ``sigma_nm`` the localization precision, from ``n_pairs`` next-frame neighbour distances."""

    sigma_nm: float
    n_pairs: int
    distances: np.ndarray = field(repr=False)


def nena(table: np.ndarray, *, max_distance_nm: float = 150.0, bins: int = 75) -> NenaResult:
    """Estimate the mean localization precision from nearest neighbours in adjacent frames (NeNA).

    Parameters
    ----------
    table : structured ndarray
        Needs ``frame``, ``x`` and ``y`` (nm).
    max_distance_nm : float, optional
        Neighbours farther than this are ignored; a few times the expected precision.
    bins : int, optional
        Histogram bins over ``[0, max_distance_nm]`` for the fit.

    Returns
    -------
    NenaResult

    Raises
    ------
    AnalysisError
        If fewer than 50 neighbour pairs are found, or the fit does not converge.
    """
    for name in ("frame", "x", "y"):
        if name not in (table.dtype.names or ()):
            raise ValueError(f"NeNA needs column {name!r} (frame, x and y in nm)")
    if not max_distance_nm > 0:
        raise ValueError(f"max_distance_nm must be positive, got {max_distance_nm!r}")
    frame = table["frame"].astype(np.int64)
    x = table["x"].astype(np.float64)
    y = table["y"].astype(np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    frame, x, y = frame[ok], x[ok], y[ok]
    d = np.empty(0)
    if frame.size:
        # The frame becomes a third coordinate spaced beyond max_distance, so one query pairs each localization
        # only with the localizations of the next frame.
        spacing = 4.0 * max_distance_nm + 1.0
        z = (frame - frame.min()) * spacing
        tree = cKDTree(np.column_stack([x, y, z]))
        dist, _ = tree.query(np.column_stack([x, y, z + spacing]), k=1, distance_upper_bound=max_distance_nm)
        d = dist[np.isfinite(dist)]
    if d.size < 50:
        raise AnalysisError(
            f"NeNA found only {d.size} neighbour pairs within {max_distance_nm} nm in adjacent frames (need ≥ 50); "
            "use a longer acquisition or a larger max_distance_nm"
        )
    counts, edges = np.histogram(d, bins=bins, range=(0.0, max_distance_nm))
    centres = 0.5 * (edges[1:] + edges[:-1])
    width = edges[1] - edges[0]

    def model(r: np.ndarray, amp: float, sigma: float, slope: float) -> np.ndarray:
        return amp * width * r / (2 * sigma**2) * np.exp(-(r**2) / (4 * sigma**2)) + slope * r

    guess = (float(d.size), max(float(np.median(d)) / 1.67, width), 0.0)  # median of the pair law ≈ 1.67σ
    try:
        params, _ = curve_fit(
            model, centres, counts, p0=guess, bounds=([0, width / 10, 0], [np.inf, max_distance_nm, np.inf])
        )
    except RuntimeError as exc:
        raise AnalysisError(f"NeNA fit did not converge ({exc}); check the distance histogram") from exc
    return NenaResult(sigma_nm=float(params[1]), n_pairs=int(d.size), distances=d)
