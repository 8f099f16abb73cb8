"""Ground-truth scoring of localizations: per-frame matching, Jaccard, recall, precision, RMSE, efficiency.

The metrics follow the 2016 SMLM challenge (Sage et al., Nat. Methods 16:387, 2019): localizations are matched to
ground-truth emitters of the same frame within a lateral tolerance (250 nm by default), each emitter and each
localization used at most once. ``method="greedy"`` pairs the closest remaining candidates first (DECODE's default);
``method="hungarian"`` finds the assignment with the most matches and, among those, the smallest total distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numba
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = ["MatchResult", "efficiency", "match"]

MatchMethod = Literal["greedy", "hungarian"]


@dataclass(frozen=True)
class MatchResult:
    """The outcome of matching localizations to ground truth.

    Attributes
    ----------
    tp, fp, fn : int
        True positives (matched pairs), false positives (unmatched localizations), false negatives (unmatched
        ground-truth emitters).
    jaccard : float
        TP / (TP + FP + FN), in [0, 1]; NaN when both inputs are empty.
    recall, precision : float
        TP / (TP + FN) and TP / (TP + FP); NaN when the denominator is 0.
    rmse_lateral : float
        sqrt(mean(dx² + dy²)) over the matched pairs, nm; NaN when there is no match.
    efficiency : float
        Sage 2019 lateral efficiency, ``100 − sqrt((100 (1 − JI))² + α² RMSE²)`` (percent); NaN without matches.
    loc_index, gt_index : ndarray of shape (TP,), int64
        Row indices of the matched localizations and of their ground-truth emitters in the inputs as given.
    dx, dy : ndarray of shape (TP,), float64
        Localization minus ground truth for each matched pair, nm (their means are the bias).
    """

    tp: int
    fp: int
    fn: int
    jaccard: float
    recall: float
    precision: float
    rmse_lateral: float
    efficiency: float
    loc_index: np.ndarray = field(repr=False)
    gt_index: np.ndarray = field(repr=False)
    dx: np.ndarray = field(repr=False)
    dy: np.ndarray = field(repr=False)


def efficiency(jaccard: float, rmse_nm: float, *, alpha: float = 1.0) -> float:
    """Return the Sage 2019 efficiency ``100 − sqrt((100 (1 − JI))² + α² RMSE²)``.

    Parameters
    ----------
    jaccard : float
        Jaccard index in [0, 1].
    rmse_nm : float
        Root-mean-square localization error, nm.
    alpha : float, optional
        Weight of the RMSE, nm⁻¹ (1 for lateral, 0.5 for axial).

    Examples
    --------
    >>> efficiency(1.0, 0.0)
    100.0
    >>> round(efficiency(0.7, 40.0), 3)
    50.0
    """
    return 100.0 - math.sqrt((100.0 * (1.0 - jaccard)) ** 2 + (alpha * rmse_nm) ** 2)


def match(
    localizations: Any,
    ground_truth: Any,
    *,
    tolerance_nm: float = 250.0,
    method: MatchMethod = "greedy",
    alpha: float = 1.0,
) -> MatchResult:
    """Match localizations to ground-truth emitters frame by frame and score the result.

    Parameters
    ----------
    localizations, ground_truth : structured ndarray, ndarray of shape (N, 3), or tuple of three arrays
        Points as ``frame, x, y`` (nm). A structured array needs fields ``frame``, ``x`` and ``y`` (a results table
        of :data:`~photonflow.localization.results.LOCALIZATION_DTYPE` qualifies); a plain array has the columns in
        that order.
    tolerance_nm : float, optional
        Largest lateral distance of a matched pair, nm (inclusive).
    method : {"greedy", "hungarian"}, optional
        Greedy nearest-first pairing, or the optimal assignment (most matches, then least total distance).
    alpha : float, optional
        RMSE weight of the efficiency, nm⁻¹.

    Returns
    -------
    MatchResult

    Raises
    ------
    ValueError
        If an input has the wrong shape or fields, or ``tolerance_nm``/``method`` is invalid.

    Examples
    --------
    >>> gt = (np.array([0, 0, 1]), np.array([100.0, 900.0, 100.0]), np.array([100.0, 100.0, 100.0]))
    >>> locs = (np.array([0, 1, 1]), np.array([103.0, 104.0, 2000.0]), np.array([104.0, 97.0, 100.0]))
    >>> r = match(locs, gt)
    >>> (r.tp, r.fp, r.fn, round(r.jaccard, 2), r.rmse_lateral)
    (2, 1, 1, 0.5, 5.0)
    """
    if not (tolerance_nm > 0 and math.isfinite(tolerance_nm)):
        raise ValueError(f"tolerance_nm must be a positive finite distance in nm, got {tolerance_nm!r}")
    if method not in ("greedy", "hungarian"):
        raise ValueError(f"method must be 'greedy' or 'hungarian', got {method!r}")
    lf, lx, ly = _as_points(localizations, "localizations")
    gf, gx, gy = _as_points(ground_truth, "ground_truth")

    li, gi, dist = _candidate_pairs(lf, lx, ly, gf, gx, gy, tolerance_nm)
    if method == "greedy":
        order = np.argsort(dist, kind="stable")
        keep = _greedy_select(li[order], gi[order], lf.size, gf.size)
        li, gi = li[order][keep], gi[order][keep]
    else:
        li, gi = _optimal_select(li, gi, dist, lf.size, gf.size)
    order = np.argsort(li, kind="stable")
    li, gi = li[order], gi[order]

    tp = int(li.size)
    fp = int(lf.size) - tp
    fn = int(gf.size) - tp
    dx = lx[li] - gx[gi]
    dy = ly[li] - gy[gi]
    jaccard = _ratio(tp, tp + fp + fn)
    rmse = float(np.sqrt(np.mean(dx * dx + dy * dy))) if tp else math.nan
    eff = efficiency(jaccard, rmse, alpha=alpha) if tp else math.nan
    return MatchResult(
        tp=tp,
        fp=fp,
        fn=fn,
        jaccard=jaccard,
        recall=_ratio(tp, tp + fn),
        precision=_ratio(tp, tp + fp),
        rmse_lateral=rmse,
        efficiency=eff,
        loc_index=li,
        gt_index=gi,
        dx=dx,
        dy=dy,
    )


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def _as_points(obj: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coerce the accepted point formats to ``(frame int64, x float64, y float64)``."""
    if isinstance(obj, np.ndarray) and obj.dtype.names is not None:
        missing = [f for f in ("frame", "x", "y") if f not in obj.dtype.names]
        if missing:
            raise ValueError(f"{name}: structured array lacks field(s) {missing}; it needs 'frame', 'x', 'y' (nm)")
        cols = [obj["frame"], obj["x"], obj["y"]]
    elif isinstance(obj, tuple | list):
        if len(obj) != 3:
            raise ValueError(f"{name}: give three arrays (frame, x, y), got {len(obj)}")
        cols = [np.asarray(c) for c in obj]
    else:
        arr = np.asarray(obj)
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise ValueError(f"{name}: a plain array must have shape (N, 3) with columns frame, x, y; got {arr.shape}")
        cols = [arr[:, 0], arr[:, 1], arr[:, 2]]
    frame = np.asarray(cols[0]).ravel()
    x = np.asarray(cols[1], dtype=np.float64).ravel()
    y = np.asarray(cols[2], dtype=np.float64).ravel()
    if not (frame.size == x.size == y.size):
        raise ValueError(f"{name}: frame, x and y have different lengths ({frame.size}, {x.size}, {y.size})")
    if frame.size and not np.all(np.isfinite(x) & np.isfinite(y)):
        raise ValueError(f"{name}: x and y must be finite; drop NaN/inf rows before matching")
    return frame.astype(np.int64), x, y


def _candidate_pairs(
    lf: np.ndarray,
    lx: np.ndarray,
    ly: np.ndarray,
    gf: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (localization, emitter) pairs of the same frame within ``tol``, with their lateral distances."""
    empty_i = np.empty(0, dtype=np.int64)
    if lf.size == 0 or gf.size == 0:
        return empty_i, empty_i, np.empty(0)
    # Frames become a third coordinate spaced far beyond the tolerance, so one KD-tree query finds the pairs of
    # every frame at once and never pairs points of different frames.
    f0 = min(lf.min(), gf.min())
    spacing = 4.0 * tol + 1.0
    a = np.column_stack([lx, ly, (lf - f0) * spacing])
    b = np.column_stack([gx, gy, (gf - f0) * spacing])
    sdm = cKDTree(a).sparse_distance_matrix(cKDTree(b), tol, output_type="ndarray")
    li = sdm["i"].astype(np.int64)
    gi = sdm["j"].astype(np.int64)
    same = lf[li] == gf[gi]
    li, gi = li[same], gi[same]
    dist = np.hypot(lx[li] - gx[gi], ly[li] - gy[gi])
    return li, gi, dist


@numba.njit(cache=True)
def _greedy_select(li: np.ndarray, gi: np.ndarray, n_loc: int, n_gt: int) -> np.ndarray:  # pragma: no cover - jit
    """Walk pairs in ascending distance, keeping each whose two ends are both still free."""
    used_l = np.zeros(n_loc, dtype=np.bool_)
    used_g = np.zeros(n_gt, dtype=np.bool_)
    keep = np.zeros(li.size, dtype=np.bool_)
    for k in range(li.size):
        a = li[k]
        b = gi[k]
        if not used_l[a] and not used_g[b]:
            used_l[a] = True
            used_g[b] = True
            keep[k] = True
    return keep


def _optimal_select(
    li: np.ndarray, gi: np.ndarray, dist: np.ndarray, n_loc: int, n_gt: int
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal assignment, solved per connected cluster of candidate pairs to keep each problem small."""
    if li.size == 0:
        return li, gi
    # Bipartite graph: nodes 0..n_loc-1 are localizations, n_loc.. are emitters.
    n = n_loc + n_gt
    graph = coo_matrix((np.ones(li.size), (li, gi + n_loc)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    comp = labels[li]
    order = np.argsort(comp, kind="stable")
    li, gi, dist, comp = li[order], gi[order], dist[order], comp[order]
    bounds = np.flatnonzero(np.diff(comp)) + 1
    out_l: list[np.ndarray] = []
    out_g: list[np.ndarray] = []
    for sl, sg, sd in zip(np.split(li, bounds), np.split(gi, bounds), np.split(dist, bounds), strict=True):
        if sl.size == 1:
            out_l.append(sl)
            out_g.append(sg)
            continue
        ul, rl = np.unique(sl, return_inverse=True)
        ug, rg = np.unique(sg, return_inverse=True)
        # A non-candidate costs more than any full set of real pairs, so the solver first maximises the number of
        # real matches, then minimises their summed distance.
        big = float(sd.sum()) + 1.0
        cost = np.full((ul.size, ug.size), big)
        cost[rl, rg] = sd
        rows, cols = linear_sum_assignment(cost)
        real = cost[rows, cols] < big
        out_l.append(ul[rows[real]])
        out_g.append(ug[cols[real]])
    return np.concatenate(out_l), np.concatenate(out_g)
