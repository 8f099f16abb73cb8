"""Drift estimation by redundant cross-correlation (RCC, Wang et al., Opt. Express 22:15982, 2014) and its removal.

The localizations are split into time segments of equal length. Each segment is rendered as a 2-D histogram and
Fourier transformed once (a Gaussian blur is applied in Fourier space); every pair of segments is cross-correlated and
the sub-pixel correlation peak gives the shift between them. The over-determined system
``d_j − d_i = r_ij`` is solved by least squares with ``d_0 = 0``; pairs whose residual exceeds a threshold are
rejected (keeping every segment connected) and the system is solved again. The per-segment drift, placed at the mean
frame of each segment's events, is interpolated per frame by a natural cubic spline and extended linearly beyond the
first and last segment centres. The trace is zero at the first frame.

When segments hold too few events for reliable correlations, fewer, longer segments are used; with only two
segments left the single consecutive-pair correlation is used. Each fallback emits a :class:`DriftWarning`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.fft
from scipy.interpolate import CubicSpline

from photonflow.errors import AnalysisError
from photonflow.localization.render import FieldOfView, field_of_view, histogram_xy

__all__ = ["DriftTrace", "DriftWarning", "apply_drift", "estimate_drift"]


class DriftWarning(UserWarning):
    """Drift estimation fell back to a less redundant scheme, or its result is doubtful."""


@dataclass(frozen=True)
class DriftTrace:
    """A drift estimate: the apparent displacement of the sample at each frame, relative to the first frame.

    Attributes
    ----------
    frames : ndarray of shape (F,), int64
        Every frame from the first to the last frame of the table.
    x, y : ndarray of shape (F,), float64
        Drift at each of ``frames``, nm; a localization at frame ``f`` is corrected by subtracting it.
    segment_frames : ndarray of shape (S,), float64
        Mean frame of the events of each segment (where the segment drift estimates are placed).
    segment_x, segment_y : ndarray of shape (S,), float64
        Drift estimate of each segment, nm (before the shift that makes the trace zero at the first frame).
    method : {"rcc", "consecutive"}
        Redundant cross-correlation, or the two-segment fallback.
    pairs_used, pairs_rejected : int
        Segment pairs kept in, and rejected from, the least-squares solution.
    """

    frames: np.ndarray = field(repr=False)
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    segment_frames: np.ndarray = field(repr=False)
    segment_x: np.ndarray = field(repr=False)
    segment_y: np.ndarray = field(repr=False)
    method: str
    pairs_used: int
    pairs_rejected: int

    def at(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Drift ``(dx, dy)`` in nm at ``frames``; frames outside the trace take the nearest end value."""
        idx = np.clip(np.asarray(frames, dtype=np.int64) - self.frames[0], 0, self.frames.size - 1)
        return self.x[idx], self.y[idx]


def estimate_drift(
    table: np.ndarray,
    *,
    segment_frames: int = 1000,
    pixel_size_nm: float = 100.0,
    render_pixel_nm: float | None = None,
    blur_px: float = 1.0,
    max_drift_nm: float = 1000.0,
    max_residual_nm: float | None = None,
    min_events_per_segment: int = 1000,
) -> DriftTrace:
    """Estimate sample drift from the localizations themselves by redundant cross-correlation.

    Parameters
    ----------
    table : structured ndarray
        Needs fields ``frame``, ``x`` and ``y`` (nm); a results table qualifies.
    segment_frames : int, optional
        Frames per time segment. Shorter segments follow faster drift but hold fewer events.
    pixel_size_nm : float, optional
        Camera pixel size, nm; sets the defaults of ``render_pixel_nm`` and ``max_residual_nm``.
    render_pixel_nm : float, optional
        Pixel size of the segment histograms, nm; ``pixel_size_nm / 5`` by default.
    blur_px : float, optional
        σ of the Gaussian blur applied to each histogram, in render pixels.
    max_drift_nm : float, optional
        Largest shift between any two segments searched for, nm.
    max_residual_nm : float, optional
        Pairs whose least-squares residual exceeds this are rejected; ``0.2 · pixel_size_nm`` by default.
    min_events_per_segment : int, optional
        Below this many events in any segment, fewer segments are used (with a :class:`DriftWarning`).

    Returns
    -------
    DriftTrace

    Raises
    ------
    ValueError
        If a parameter is out of range or the table lacks a column.
    AnalysisError
        If the table spans fewer than two frames or holds fewer than two localizations.
    """
    _require_fields(table, ("frame", "x", "y"))
    if segment_frames < 1:
        raise ValueError(f"segment_frames must be ≥ 1, got {segment_frames!r}")
    if not pixel_size_nm > 0:
        raise ValueError(f"pixel_size_nm must be positive, got {pixel_size_nm!r}")
    render_px = pixel_size_nm / 5.0 if render_pixel_nm is None else float(render_pixel_nm)
    threshold = 0.2 * pixel_size_nm if max_residual_nm is None else float(max_residual_nm)
    if not (render_px > 0 and blur_px >= 0 and max_drift_nm > 0 and threshold > 0):
        raise ValueError(
            "render_pixel_nm, max_drift_nm and max_residual_nm must be positive and blur_px ≥ 0; "
            f"got {render_px!r}, {max_drift_nm!r}, {threshold!r}, {blur_px!r}"
        )

    frame = np.asarray(table["frame"], dtype=np.int64)
    x = np.asarray(table["x"], dtype=np.float64)
    y = np.asarray(table["y"], dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    frame, x, y = frame[ok], x[ok], y[ok]
    if frame.size < 2 or frame.min() == frame.max():
        raise AnalysisError(
            f"drift estimation needs localizations in at least two frames; got {frame.size} localizations "
            f"in {np.unique(frame).size} frame(s)"
        )
    first, last = int(frame.min()), int(frame.max())

    n_seg, seg = _choose_segments(frame, first, last, segment_frames, min_events_per_segment)
    geo = field_of_view(x, y, pixel_nm=render_px, fov=(x.min(), y.min(), x.max() + render_px, y.max() + render_px))
    spectra = _segment_spectra(x, y, seg, n_seg, geo, blur_px)
    window = max(1, min(math.ceil(max_drift_nm / render_px), min(geo.shape) // 2 - 1))

    pairs = [(i, j) for i in range(n_seg) for j in range(i + 1, n_seg)]
    shifts = np.full((len(pairs), 2), np.nan)
    for k, (i, j) in enumerate(pairs):
        shifts[k] = _pair_shift(spectra[i], spectra[j], geo, window)

    if n_seg == 2:
        if not np.all(np.isfinite(shifts[0])):
            raise AnalysisError(
                f"the two segments do not correlate within ±{max_drift_nm} nm; increase max_drift_nm, or check "
                "that the sample holds a stable structure"
            )
        seg_drift = np.vstack([np.zeros(2), shifts[0]])
        method, used, rejected = "consecutive", 1, 0
    else:
        seg_drift, used, rejected = _solve_redundant(pairs, shifts, n_seg, threshold)
        method = "rcc"

    centres = np.array([frame[seg == s].mean() for s in range(n_seg)])
    frames = np.arange(first, last + 1, dtype=np.int64)
    dx = _interpolate(centres, seg_drift[:, 0], frames)
    dy = _interpolate(centres, seg_drift[:, 1], frames)
    return DriftTrace(
        frames=frames,
        x=dx - dx[0],
        y=dy - dy[0],
        segment_frames=centres,
        segment_x=seg_drift[:, 0],
        segment_y=seg_drift[:, 1],
        method=method,
        pairs_used=used,
        pairs_rejected=rejected,
    )


def apply_drift(table: np.ndarray, trace: DriftTrace) -> np.ndarray:
    """Return a copy of ``table`` with the drift of each row's frame subtracted from ``x`` and ``y``.

    Examples
    --------
    >>> from photonflow.localization.results import empty_results
    >>> t = empty_results(2); t["frame"] = [0, 1]; t["x"] = [10, 15]
    >>> tr = DriftTrace(np.arange(2), np.array([0.0, 5.0]), np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2),
    ...                 "rcc", 1, 0)
    >>> apply_drift(t, tr)["x"].tolist()
    [10.0, 10.0]
    """
    _require_fields(table, ("frame", "x", "y"))
    out = table.copy()
    dx, dy = trace.at(table["frame"])
    out["x"] = table["x"] - dx
    out["y"] = table["y"] - dy
    return out


def _require_fields(table: np.ndarray, fields: tuple[str, ...]) -> None:
    names = getattr(getattr(table, "dtype", None), "names", None) or ()
    missing = [f for f in fields if f not in names]
    if missing:
        raise ValueError(f"the table lacks column(s) {missing}; drift correction needs {list(fields)} (x, y in nm)")


def _split(frame: np.ndarray, first: int, last: int, n_seg: int) -> np.ndarray:
    """Segment index of each event for ``n_seg`` equal-length segments over frames ``first..last``."""
    span = last - first + 1
    return np.minimum((frame - first) * n_seg // span, n_seg - 1)


def _choose_segments(
    frame: np.ndarray, first: int, last: int, segment_frames: int, min_events: int
) -> tuple[int, np.ndarray]:
    span = last - first + 1
    wanted = max(2, round(span / segment_frames))
    n_seg = min(wanted, span)
    seg = _split(frame, first, last, n_seg)
    counts = np.bincount(seg, minlength=n_seg)
    while n_seg > 2 and counts.min() < min_events:
        n_seg = max(2, min(n_seg - 1, int(n_seg * 0.75)))
        seg = _split(frame, first, last, n_seg)
        counts = np.bincount(seg, minlength=n_seg)
    if n_seg < wanted:
        warnings.warn(
            f"drift: segments of {segment_frames} frames hold fewer than {min_events} events; using {n_seg} "
            f"segments of ~{span // n_seg} frames instead"
            + (" (two segments: a single consecutive correlation, no redundancy)" if n_seg == 2 else ""),
            DriftWarning,
            stacklevel=3,
        )
    if counts.min() == 0:
        raise AnalysisError(
            f"drift: frames {first}..{last} hold too few localizations to form two non-empty time segments"
        )
    if counts.min() < min_events:
        warnings.warn(
            f"drift: a segment holds only {counts.min()} events (fewer than {min_events}); the estimate may be noisy",
            DriftWarning,
            stacklevel=3,
        )
    return n_seg, seg


def _segment_spectra(
    x: np.ndarray, y: np.ndarray, seg: np.ndarray, n_seg: int, geo: FieldOfView, blur_px: float
) -> list[np.ndarray]:
    """The blurred Fourier transform of each segment's histogram, on a shape padded to fast FFT lengths."""
    ny, nx = geo.shape
    # Padding by the search window would avoid wrap-around; the structures are far larger than the drift, so the
    # circular correlation peak is unaffected and a fast length is all that is needed.
    shape = (scipy.fft.next_fast_len(ny, real=True), scipy.fft.next_fast_len(nx, real=True))
    fy = scipy.fft.fftfreq(shape[0])[:, None]
    fx = scipy.fft.rfftfreq(shape[1])[None, :]
    transfer = np.exp(-2.0 * math.pi**2 * blur_px**2 * (fx * fx + fy * fy)).astype(np.float32)
    padded_geo = FieldOfView(geo.x_min, geo.y_min, geo.pixel_nm, shape)
    order = np.argsort(seg, kind="stable")
    bounds = np.searchsorted(seg[order], np.arange(n_seg + 1))
    spectra = []
    for s in range(n_seg):
        idx = order[bounds[s] : bounds[s + 1]]
        image = histogram_xy(x[idx], y[idx], padded_geo)
        spectra.append(scipy.fft.rfft2(image) * transfer)
    return spectra


def _pair_shift(fa: np.ndarray, fb: np.ndarray, geo: FieldOfView, window: int) -> np.ndarray:
    """Shift of segment b relative to segment a, nm ``(dx, dy)``; NaN when the peak lies on the search border."""
    corr = scipy.fft.irfft2(np.conj(fa) * fb, s=(fa.shape[0], 2 * (fa.shape[1] - 1)))
    offsets = np.arange(-window, window + 1)
    sub = corr[np.ix_(offsets % corr.shape[0], offsets % corr.shape[1])]
    iy, ix = np.unravel_index(int(np.argmax(sub)), sub.shape)
    if iy in (0, sub.shape[0] - 1) or ix in (0, sub.shape[1] - 1) or not sub[iy, ix] > 0:
        return np.array([np.nan, np.nan])
    ddx = _peak_offset(sub[iy, ix - 1], sub[iy, ix], sub[iy, ix + 1])
    ddy = _peak_offset(sub[iy - 1, ix], sub[iy, ix], sub[iy + 1, ix])
    return np.array([(ix - window + ddx) * geo.pixel_nm, (iy - window + ddy) * geo.pixel_nm])


def _peak_offset(left: float, centre: float, right: float) -> float:
    """Sub-pixel peak position from three samples: Gaussian (log-parabola) fit, parabola if any sample is ≤ 0."""
    if left > 0 and right > 0:
        ll, lc, lr = math.log(left), math.log(centre), math.log(right)
        den = ll - 2.0 * lc + lr
        if den < 0:
            return 0.5 * (ll - lr) / den
    den = left - 2.0 * centre + right
    return 0.5 * (left - right) / den if den < 0 else 0.0


def _connected(pairs: np.ndarray, keep: np.ndarray, n_seg: int) -> bool:
    parent = list(range(n_seg))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for (i, j), k in zip(pairs, keep, strict=True):
        if k:
            parent[root(int(i))] = root(int(j))
    return len({root(s) for s in range(n_seg)}) == 1


def _solve_redundant(
    pair_list: list[tuple[int, int]], shifts: np.ndarray, n_seg: int, threshold: float
) -> tuple[np.ndarray, int, int]:
    """Least-squares segment drifts from pairwise shifts, rejecting inconsistent pairs while staying connected."""
    pairs = np.array(pair_list, dtype=np.int64)
    design = np.zeros((len(pairs), n_seg))
    design[np.arange(len(pairs)), pairs[:, 1]] = 1.0
    design[np.arange(len(pairs)), pairs[:, 0]] = -1.0
    design = design[:, 1:]  # d_0 = 0 fixes the free offset
    valid = np.all(np.isfinite(shifts), axis=1)
    if not _connected(pairs, valid, n_seg):
        raise AnalysisError(
            "drift: some segments correlate with no other segment within max_drift_nm; increase max_drift_nm or "
            "segment_frames, or check that the sample holds a stable structure"
        )
    keep = valid.copy()
    for _ in range(10):
        sol = np.linalg.lstsq(design[keep], shifts[keep], rcond=None)[0]
        resid = np.full(len(pairs), np.inf)
        resid[valid] = np.hypot(*(design[valid] @ sol - shifts[valid]).T)
        new_keep = valid & (resid <= threshold)
        if not _connected(pairs, new_keep, n_seg):
            # Re-admit the least bad rejected pairs until every segment is tied to the others again.
            for k in np.argsort(resid):
                if valid[k] and not new_keep[k]:
                    new_keep[k] = True
                    if _connected(pairs, new_keep, n_seg):
                        break
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    sol = np.linalg.lstsq(design[keep], shifts[keep], rcond=None)[0]
    final = np.hypot(*(design[keep] @ sol - shifts[keep]).T)
    if final.size and final.max() > threshold:
        warnings.warn(
            f"drift: pairwise shifts remain inconsistent (largest residual {final.max():.1f} nm > {threshold:.1f} "
            "nm) after rejecting outliers; the estimate may be poor. Try longer segments.",
            DriftWarning,
            stacklevel=3,
        )
    return np.vstack([np.zeros(2), sol]), int(keep.sum()), int(len(pairs) - keep.sum())


def _interpolate(centres: np.ndarray, values: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Natural cubic spline through the segment values, extended linearly beyond the first and last centre."""
    spline = CubicSpline(centres, values, bc_type="natural")
    t = frames.astype(np.float64)
    out = spline(np.clip(t, centres[0], centres[-1]))
    slope = spline.derivative()
    lo = t < centres[0]
    hi = t > centres[-1]
    out[lo] += (t[lo] - centres[0]) * slope(centres[0])
    out[hi] += (t[hi] - centres[-1]) * slope(centres[-1])
    return np.asarray(out, dtype=np.float64)
