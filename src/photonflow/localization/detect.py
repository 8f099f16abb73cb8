"""Candidate detection: difference-of-Gaussians band-pass, per-pixel noise threshold, local maxima, debounce.

The band-passed image ``F = G_σ1 ⊛ S − G_σ2 ⊛ S`` of the background-subtracted data ``S`` is compared with the
standard deviation the band-pass leaves of the per-pixel noise (Poisson with excess noise factor + read noise,
:meth:`Camera.noise_variance`): ``score = F / (σ_pixel · ‖DoG‖₂)``. Unlike PYME's threshold (in units of the raw
per-pixel σ, compute.md §3.2 step 5) this score is a true signal-to-noise ratio of the filtered image.
Candidates are local maxima of F (3×3) with a score above the threshold, refined by the F-weighted centroid of
their 3×3 neighbourhood, then debounced: within ``min_distance`` only the highest score survives.

Speed: the background subtraction and both horizontal filters share one reflected row buffer; the vertical filters
run over whole rows so they vectorise. The maxima search first applies the squared threshold test to whole rows
(branch-free, no square root), so only a handful of pixels per frame reach the 3×3 test. A
:class:`DetectionWorkspace` holds every buffer, reused from frame to frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np

from photonflow.errors import AnalysisError
from photonflow.localization.camera import Camera

__all__ = ["Candidates", "DetectionWorkspace", "bandpass", "detect", "dog_noise_gain"]


@dataclass(frozen=True)
class Candidates:
    """Detected candidates of one frame: sub-pixel centroids (pixel-index coordinates) and scores."""

    rows: np.ndarray  # float64 (n,)
    cols: np.ndarray  # float64 (n,)
    score: np.ndarray  # float32 (n,), band-passed peak over the filtered noise SD

    def __len__(self) -> int:
        return int(self.rows.shape[0])


def _kernel(sigma: float) -> np.ndarray:
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


@lru_cache(maxsize=16)
def dog_noise_gain(sigma_low: float, sigma_high: float) -> float:
    """‖G_σ1 − B‖₂ of the 2-D band-pass kernel of :func:`bandpass`: the SD it leaves of unit-variance white noise."""
    k1 = _kernel(sigma_low)
    width = _box_width(sigma_high)
    k2 = np.full(width, 1.0 / width)
    n = max(k1.size, k2.size)
    p1, p2 = (n - k1.size) // 2, (n - k2.size) // 2
    a = np.zeros(n)
    b = np.zeros(n)
    a[p1 : p1 + k1.size] = k1
    b[p2 : p2 + k2.size] = k2
    return float(np.linalg.norm(np.outer(a, a) - np.outer(b, b)))


@numba.njit(cache=True, nogil=True)
def _reflect(i: int, n: int) -> int:
    # scipy's "reflect" (half-sample symmetric) boundary: d c b a | a b c d | d c b a
    if i < 0:
        return -i - 1
    if i >= n:
        return 2 * n - i - 1
    return i


@numba.njit(cache=True, nogil=True, fastmath=True)
def _row_pass(
    image: np.ndarray,
    bg_map: np.ndarray,
    bg_const: float,
    has_map: bool,
    floor: float,
    w: np.ndarray,
    width: int,
    buf: np.ndarray,
    h1: np.ndarray,
    hb: np.ndarray,
) -> None:
    """Horizontal Gaussian (into ``h1``) and box sums (into ``hb``) of ``max(image − bg, floor)``.

    ``w`` holds the Gaussian's centre tap and one side (it is symmetric), so each pair of taps costs one multiply.
    """
    nr, nc = image.shape
    r1 = w.size - 1
    rb = width // 2
    pad = (buf.size - nc) // 2
    zero = np.float32(floor)
    bc = np.float32(bg_const)
    w0 = w[0]
    for i in range(nr):
        src = image[i]
        if has_map:
            b = bg_map[i]
            for j in range(nc):
                buf[pad + j] = max(src[j] - b[j], zero)
        else:
            for j in range(nc):
                buf[pad + j] = max(src[j] - bc, zero)
        for t in range(1, pad + 1):
            buf[pad - t] = buf[pad + t - 1]
            buf[pad + nc - 1 + t] = buf[pad + nc - t]
        # shifted views indexed by a plain loop counter vectorise; computed indices such as buf[pad + j - t] do
        # not (numba must allow for negative-index wraparound)
        out = h1[i]
        mid = buf[pad : pad + nc]
        for j in range(nc):
            out[j] = w0 * mid[j]
        for t in range(1, r1 + 1):
            wt = w[t]
            left = buf[pad - t : pad - t + nc]
            right = buf[pad + t : pad + t + nc]
            for j in range(nc):
                out[j] += wt * (left[j] + right[j])
        # the box as direct sums too: a running sum is one long dependency chain that does not vectorise
        box = hb[i]
        for j in range(nc):
            box[j] = mid[j]
        for t in range(1, rb + 1):
            left = buf[pad - t : pad - t + nc]
            right = buf[pad + t : pad + t + nc]
            for j in range(nc):
                box[j] += left[j] + right[j]


@numba.njit(cache=True, nogil=True, fastmath=True)
def _column_pass(
    h1: np.ndarray,
    hb: np.ndarray,
    w: np.ndarray,
    width: int,
    col: np.ndarray,
    low: np.ndarray,
    dog: np.ndarray,
) -> None:
    """Vertical passes: ``low = G ⊛ h1`` and ``dog = low − (box ⊛ hb) / width²``, the box as running column sums."""
    nr, nc = h1.shape
    r1 = w.size - 1
    rb = width // 2
    inv = 1.0 / (width * width)
    col[:] = 0.0
    for t in range(-rb, rb + 1):
        src = hb[_reflect(t, nr)]
        for j in range(nc):
            col[j] += src[j]
    w0 = w[0]
    for i in range(nr):
        lo = low[i]
        c = h1[i]
        for j in range(nc):
            lo[j] = w0 * c[j]
        for t in range(1, r1 + 1):
            wt = w[t]
            a = h1[_reflect(i - t, nr)]
            b = h1[_reflect(i + t, nr)]
            for j in range(nc):
                lo[j] += wt * (a[j] + b[j])
        d = dog[i]
        for j in range(nc):
            d[j] = lo[j] - col[j] * inv
        if i + 1 < nr:
            add = hb[_reflect(i + rb + 1, nr)]
            sub = hb[_reflect(i - rb, nr)]
            for j in range(nc):
                col[j] += add[j] - sub[j]


@numba.njit(cache=True, nogil=True, fastmath=True)
def _margin_row(
    row: np.ndarray,
    low: np.ndarray,
    bg: np.ndarray,
    bg_const: float,
    has_map: bool,
    read_var: np.ndarray,
    f2: float,
    k2: float,
    q: np.ndarray,
) -> None:
    """``q = v·|v| − k2 · var``: positive where the pixel's band-passed value may pass the threshold.

    A branch-free pass (it vectorises) so that only a handful of pixels per frame reach the 3×3 maximum test.
    """
    f2f = np.float32(f2)
    k2f = np.float32(k2)
    one = np.float32(1.0)
    if has_map:
        for j in range(row.size):
            v = row[j]
            q[j] = v * abs(v) - k2f * (f2f * max(low[j] + bg[j], one) + read_var[j])
    else:
        b = np.float32(bg_const)
        for j in range(row.size):
            v = row[j]
            q[j] = v * abs(v) - k2f * (f2f * max(low[j] + b, one) + read_var[j])


@numba.njit(cache=True, nogil=True)
def _find(
    f: np.ndarray,
    low: np.ndarray,
    bg_map: np.ndarray,
    bg_const: float,
    has_map: bool,
    read_var: np.ndarray,
    f2: float,
    gain: float,
    threshold: float,
    border: int,
    q: np.ndarray,
    out_r: np.ndarray,
    out_c: np.ndarray,
    out_s: np.ndarray,
) -> int:
    """Write the 3×3 maxima of ``f`` above the noise threshold, with centroids, to ``out_*``; return their number."""
    nr, nc = f.shape
    # the squared threshold test, loosened by a hair for float32 rounding: the exact test follows
    k2 = (max(threshold, 0.0) * gain) ** 2 * (1.0 - 1e-5)
    n = 0
    for i in range(max(border, 0), min(nr - border, nr)):
        _margin_row(f[i], low[i], bg_map[i if has_map else 0], bg_const, has_map, read_var[i], f2, k2, q)
        for j in range(max(border, 0), min(nc - border, nc)):
            if q[j] <= 0.0:
                continue
            v = f[i, j]
            is_max = True
            for di in range(-1, 2):
                ii = i + di
                if ii < 0 or ii >= nr:
                    continue
                for dj in range(-1, 2):
                    jj = j + dj
                    if jj < 0 or jj >= nc or (di == 0 and dj == 0):
                        continue
                    w = f[ii, jj]
                    # plateaus: the first pixel in raster order wins
                    if w > v or (w == v and (di < 0 or (di == 0 and dj < 0))):
                        is_max = False
                        break
                if not is_max:
                    break
            if not is_max:
                continue
            # noise only where it matters: the expectation here is the low-passed data plus the background
            b = bg_map[i, j] if has_map else bg_const
            var = f2 * max(low[i, j] + b, 1.0) + read_var[i, j]
            s = v / (math.sqrt(var) * gain)
            if s <= threshold:
                continue
            tot = 0.0
            sr = 0.0
            sc = 0.0
            for di in range(-1, 2):
                ii = i + di
                if ii < 0 or ii >= nr:
                    continue
                for dj in range(-1, 2):
                    jj = j + dj
                    if jj < 0 or jj >= nc:
                        continue
                    w = max(f[ii, jj], 0.0)
                    tot += w
                    sr += w * ii
                    sc += w * jj
            out_r[n] = sr / tot
            out_c[n] = sc / tot
            out_s[n] = s
            n += 1
    return n


class DetectionWorkspace:
    """Buffers for :func:`detect` on frames of one shape and band-pass, reused from frame to frame.

    Not thread-safe: give each thread (each pipeline) its own.

    Parameters
    ----------
    shape : (int, int)
        Frame shape.
    sigma_low, sigma_high : float
        Band-pass widths, pixels (as :func:`bandpass`).

    Attributes
    ----------
    low, dog : ndarray of shape `shape`, float32
        The two outputs of :func:`bandpass` for the last frame filtered.
    """

    def __init__(self, shape: tuple[int, int], sigma_low: float = 1.0, sigma_high: float = 3.0):
        if not 0 < sigma_low < sigma_high:
            raise AnalysisError(f"need 0 < sigma_low < sigma_high, got {sigma_low}, {sigma_high}")
        nr, nc = int(shape[0]), int(shape[1])
        k1 = _kernel(sigma_low)
        self.width = _box_width(sigma_high)
        if min(nr, nc) <= max(self.width, k1.size):
            raise AnalysisError(f"frames of shape {(nr, nc)} are too small for a band-pass of sigma {sigma_high}")
        self.shape = (nr, nc)
        self.sigmas = (float(sigma_low), float(sigma_high))
        r1 = k1.size // 2
        self.taps = k1[r1:].astype(np.float32)
        pad = max(r1, self.width // 2)
        self.buf = np.empty(nc + 2 * pad, np.float32)
        self.h1 = np.empty((nr, nc), np.float32)
        self.hb = np.empty((nr, nc), np.float32)
        self.col = np.empty(nc, np.float64)
        self.q = np.empty(nc, np.float32)
        self.low = np.empty((nr, nc), np.float32)
        self.dog = np.empty((nr, nc), np.float32)
        # strict 3×3 maxima are never adjacent, so a frame cannot hold more
        cap = ((nr + 1) // 2) * ((nc + 1) // 2)
        self.rows = np.empty(cap, np.float64)
        self.cols = np.empty(cap, np.float64)
        self.scores = np.empty(cap, np.float64)
        self._no_map = np.zeros((1, 1), np.float32)

    def filter(
        self, image: np.ndarray, background: np.ndarray | float = 0.0, *, clip: bool = True
    ) -> np.ndarray | None:
        """Band-pass ``image − background`` (negative values set to 0 if ``clip``) into :attr:`low` and :attr:`dog`.

        Returns the background as a contiguous float32 map, or None when it is a scalar.
        """
        if image.shape != self.shape:
            raise AnalysisError(f"this workspace is for frames of shape {self.shape}, got {image.shape}")
        image = np.ascontiguousarray(image, dtype=np.float32)
        bg_map = None
        bg_const = 0.0
        if np.ndim(background) == 0:
            bg_const = float(background)
        else:
            bg_map = np.ascontiguousarray(np.broadcast_to(np.asarray(background, np.float32), self.shape))
        _row_pass(
            image, self._no_map if bg_map is None else bg_map, bg_const, bg_map is not None, 0.0 if clip else -np.inf,
            self.taps, self.width, self.buf, self.h1, self.hb,
        )  # fmt: skip
        _column_pass(self.h1, self.hb, self.taps, self.width, self.col, self.low, self.dog)
        return bg_map


def _box_width(sigma: float) -> int:
    """Odd box width whose standard deviation ``sqrt((w² − 1) / 12)`` is closest to ``sigma``."""
    w = max(3, round(math.sqrt(12.0 * sigma * sigma + 1.0)))
    return (
        w
        if w % 2
        else (
            w + 1
            if abs(math.sqrt(((w + 1) ** 2 - 1) / 12) - sigma) < abs(math.sqrt(((w - 1) ** 2 - 1) / 12) - sigma)
            else w - 1
        )
    )


def bandpass(image: np.ndarray, sigma_low: float = 1.0, sigma_high: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(G_σ1 ⊛ image, G_σ1 ⊛ image − B ⊛ image)``, float32, with scipy's "reflect" boundaries.

    ``G_σ1`` is a normalised Gaussian truncated at ±int(4σ + 0.5) taps (as ``scipy.ndimage.gaussian_filter``).
    The high-pass uses a square box mean ``B`` of the standard deviation closest to ``sigma_high`` instead of a
    second Gaussian: a running sum costs O(1) per pixel where a σ = 3 Gaussian costs 25 taps per axis, which was
    most of the detection time on 512×512 frames; both remove a constant or slowly varying background.
    """
    ws = DetectionWorkspace(np.shape(image), sigma_low, sigma_high)
    ws.filter(image, clip=False)
    return ws.low, ws.dog


@numba.njit(cache=True, nogil=True)
def _debounce(rows: np.ndarray, cols: np.ndarray, scores: np.ndarray, min_distance: float) -> np.ndarray:
    """Indices kept after greedy suppression of lower-scored candidates within ``min_distance``."""
    order = np.argsort(-scores)
    keep = np.empty(order.size, np.int64)
    nk = 0
    d2 = min_distance * min_distance
    for o in order:
        ok = True
        for q in range(nk):
            k = keep[q]
            dr = rows[o] - rows[k]
            dc = cols[o] - cols[k]
            if dr * dr + dc * dc < d2:
                ok = False
                break
        if ok:
            keep[nk] = o
            nk += 1
    return np.sort(keep[:nk])


def detect(
    image: np.ndarray,
    *,
    camera: Camera,
    read_variance: np.ndarray | None = None,
    background: np.ndarray | float = 0.0,
    threshold: float = 6.0,
    sigma_low: float = 1.0,
    sigma_high: float = 3.0,
    min_distance: float = 2.0,
    border: int = 1,
    workspace: DetectionWorkspace | None = None,
) -> Candidates:
    """Find emitter candidates in one frame.

    Parameters
    ----------
    image : ndarray of shape (H, W)
        Camera-corrected frame, photoelectrons.
    camera : Camera
        Its noise model (:meth:`Camera.noise_variance`) gives each pixel's variance at the expectation
        (low-passed data plus background), not at the noisy pixel value.
    read_variance : ndarray of shape (H, W), optional
        :meth:`Camera.read_variance` for this frame shape, to avoid recomputing it per frame.
    background : ndarray of shape (H, W) or float
        Background estimate (photoelectrons) subtracted before band-passing.
    threshold : float
        Minimum band-passed signal-to-noise ratio.
    sigma_low, sigma_high : float
        Band-pass Gaussian σ, pixels (PYME ``DetectionRadiusLowpass`` / ``Highpass``).
    min_distance : float
        Debounce radius, pixels: of candidates closer than this only the highest-scoring one is kept.
    border : int
        Ignore maxima within this many pixels of the edge.
    workspace : DetectionWorkspace, optional
        Buffers for this frame shape and band-pass, reused across calls (a stream of frames); one is made if
        omitted.
    """
    if image.ndim != 2:
        raise AnalysisError(f"detect expects a 2-D frame, got shape {image.shape}")
    if not 0 < sigma_low < sigma_high:
        raise AnalysisError(f"need 0 < sigma_low < sigma_high, got {sigma_low}, {sigma_high}")
    ws = workspace
    if ws is None:
        ws = DetectionWorkspace(image.shape, sigma_low, sigma_high)
    elif ws.sigmas != (sigma_low, sigma_high):
        raise AnalysisError(f"the workspace was made for band-pass sigmas {ws.sigmas}; make one for these")
    bg_map = ws.filter(image, background)
    if read_variance is None:
        read_variance = camera.read_variance(image.shape)
    rv = np.ascontiguousarray(read_variance, dtype=np.float32)
    bg_const = 0.0 if bg_map is not None else float(background)
    n = _find(
        ws.dog, ws.low, ws._no_map if bg_map is None else bg_map, bg_const, bg_map is not None, rv,
        float(camera.noise_factor**2), dog_noise_gain(sigma_low, sigma_high), float(threshold), int(border), ws.q,
        ws.rows, ws.cols, ws.scores,
    )  # fmt: skip
    rows, cols, scores = ws.rows[:n].copy(), ws.cols[:n].copy(), ws.scores[:n].copy()
    if n and min_distance > 0:
        keep = _debounce(rows, cols, scores, float(min_distance))
        rows, cols, scores = rows[keep], cols[keep], scores[keep]
    return Candidates(rows=rows, cols=cols, score=scores.astype(np.float32))
