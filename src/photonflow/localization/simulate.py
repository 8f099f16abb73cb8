"""Simulated SMLM movies and single-spot ROIs with known ground truth (anchors.md §2.5).

Frames are 2-D arrays indexed ``[row, column]``; x runs along columns and y along rows, in nm from the frame's
corner (pixel (0, 0) spans 0..pixel_size, as in :mod:`photonflow.localization.results`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
from scipy.special import erf

from photonflow.errors import AnalysisError
from photonflow.localization.camera import Camera
from photonflow.localization.fit._gauss import integrated_gaussian_1d

__all__ = [
    "TRUTH_DTYPE",
    "SimulatedMovie",
    "SimulatedSpots",
    "emccd_challenge_camera",
    "integrated_gaussian_image",
    "scmos_camera",
    "simulate",
    "simulate_spots",
]

TRUTH_DTYPE = np.dtype([("frame", np.int32), ("x", np.float64), ("y", np.float64), ("photons", np.float64)])


@dataclass(frozen=True)
class SimulatedMovie:
    """A simulated acquisition: raw frames (uint16 ADU), one ground-truth row per emitter and frame, the camera."""

    frames: np.ndarray
    truth: np.ndarray
    camera: Camera
    pixel_size: float
    psf_sigma: float  # pixels


@dataclass(frozen=True)
class SimulatedSpots:
    """Single-emitter ROIs in photoelectrons, with true positions (ROI pixels) and optional sCMOS variances."""

    rois: np.ndarray  # (n, size, size) float32, photoelectrons
    x: np.ndarray  # (n,) true x, ROI pixels
    y: np.ndarray
    photons: float
    bg: float
    sigma: float
    variance: np.ndarray | None  # (n, size, size) read variance / gain² (photoelectrons²), sCMOS only


def emccd_challenge_camera() -> Camera:
    """The EMCCD of the 2016 SMLM challenge: gain 300, 45 e⁻/ADU, read noise 74.4 e⁻, baseline 100, QE 0.9."""
    return Camera(
        baseline=100.0,
        electrons_per_count=45.0,
        em_gain=300.0,
        read_noise=74.4,
        noise_factor=math.sqrt(2.0),
        quantum_efficiency=0.9,
        spurious_charge=0.002,
    )


def scmos_camera(shape: tuple[int, int], *, seed: int | np.random.Generator = 0) -> Camera:
    """An sCMOS camera with per-pixel maps like a Flash4 (anchors §2.5): offset ≈ 100 ± 2 ADU, lognormal read
    noise (median 1.5 e⁻, a tail of noisy pixels), gain non-uniformity 1 ± 1 %, 0.46 e⁻/ADU."""
    rng = np.random.default_rng(seed)
    dark = 100.0 + 2.0 * rng.standard_normal(shape)
    read_sd = rng.lognormal(math.log(1.5), 0.6, shape)
    gain = 1.0 + 0.01 * rng.standard_normal(shape)
    return Camera(
        baseline=100.0,
        electrons_per_count=0.46,
        read_noise=1.5,
        quantum_efficiency=0.8,
        dark_map=dark,
        flat_map=1.0 / gain,
        variance_map=read_sd**2,
    )


@numba.njit(cache=True, nogil=True)
def _render(image: np.ndarray, xs: np.ndarray, ys: np.ndarray, ns: np.ndarray, sigma: float, radius: int) -> None:
    """Add integrated Gaussians (x, y in pixels, N photons) to ``image`` within ±radius pixels of each centre."""
    nr, nc = image.shape
    w = 2 * radius + 1
    ex, dex, dsx = np.empty(w), np.empty(w), np.empty(w)
    ey, dey, dsy = np.empty(w), np.empty(w), np.empty(w)
    for k in range(xs.shape[0]):
        c0 = math.floor(xs[k]) - radius
        r0 = math.floor(ys[k]) - radius
        integrated_gaussian_1d(xs[k] - c0, sigma, w, ex, dex, dsx)
        integrated_gaussian_1d(ys[k] - r0, sigma, w, ey, dey, dsy)
        for i in range(w):
            r = r0 + i
            if r < 0 or r >= nr:
                continue
            for j in range(w):
                c = c0 + j
                if 0 <= c < nc:
                    image[r, c] += ns[k] * ey[i] * ex[j]


def integrated_gaussian_image(
    shape: tuple[int, int], x: np.ndarray, y: np.ndarray, photons: np.ndarray, *, sigma: float
) -> np.ndarray:
    """Expected photons per pixel of emitters at (x, y) pixels (pixel j spans [j, j + 1)), float64."""
    image = np.zeros(shape, np.float64)
    radius = math.ceil(5 * sigma) + 1
    _render(
        image,
        np.asarray(x, np.float64).ravel(),
        np.asarray(y, np.float64).ravel(),
        np.broadcast_to(np.asarray(photons, np.float64), np.shape(x)).ravel().copy(),
        float(sigma),
        radius,
    )
    return image


def _structure(
    kind: str, n: int, shape: tuple[int, int], pixel_size: float, margin: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Emitter positions in nm: uniform random points, or points on smooth random filaments ("microtubules")."""
    height, width = shape[0] * pixel_size, shape[1] * pixel_size
    if kind == "random":
        return rng.uniform(margin, width - margin, n), rng.uniform(margin, height - margin, n)
    if kind != "microtubules":
        raise AnalysisError(f"structure must be 'random' or 'microtubules', got {kind!r}")
    n_tubes = max(2, round(width * height / 4e6))
    xs, ys = [], []
    step = 20.0  # nm between points of a filament path
    for _ in range(n_tubes):
        x, y = rng.uniform(margin, width - margin), rng.uniform(margin, height - margin)
        angle = rng.uniform(0, 2 * math.pi)
        turn = 0.0
        path_x, path_y = [], []
        for _ in range(int(2 * (width + height) / step)):
            turn = 0.9 * turn + rng.normal(0, 0.01)  # a slowly wandering curvature: smooth, spline-like paths
            angle += turn
            x += step * math.cos(angle)
            y += step * math.sin(angle)
            if not (margin <= x <= width - margin and margin <= y <= height - margin):
                break
            path_x.append(x)
            path_y.append(y)
        xs.extend(path_x)
        ys.extend(path_y)
    px, py = np.asarray(xs), np.asarray(ys)
    if px.size == 0:
        return _structure("random", n, shape, pixel_size, margin, rng)
    idx = rng.integers(0, px.size, n)
    # labels sit on a 25 nm tube: spread them around its axis
    return px[idx] + rng.normal(0, 8.0, n), py[idx] + rng.normal(0, 8.0, n)


def _brightness(kind: str, mean: float, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "constant":
        return np.full(n, mean)
    if kind == "exponential":
        return rng.exponential(mean, n)
    if kind == "lognormal":
        s = 0.3  # 30 % spread (anchors §2.2: 10,000 ± 3,000)
        return rng.lognormal(math.log(mean) - 0.5 * s * s, s, n)
    raise AnalysisError(f"brightness must be 'constant', 'exponential' or 'lognormal', got {kind!r}")


def _camera_readout(photons: np.ndarray, camera: Camera, rng: np.random.Generator) -> np.ndarray:
    """Expected photons per pixel → uint16 ADU frame(s) through the camera's noise chain."""
    electrons = rng.poisson(camera.quantum_efficiency * photons).astype(np.float64)
    if camera.spurious_charge > 0:
        electrons += rng.random(electrons.shape) < camera.spurious_charge
    if camera.em_gain > 1:
        # the EM register's output for k input electrons is Gamma(k, gain): excess noise factor √2
        positive = electrons > 0
        electrons[positive] = rng.gamma(electrons[positive], camera.em_gain)
    if camera.flat_map is not None:
        electrons /= camera.flat_map  # flat = 1 / per-pixel gain
    read_sd = np.sqrt(camera.variance_map) if camera.variance_map is not None else camera.read_noise
    electrons += rng.standard_normal(electrons.shape) * read_sd
    dark = camera.dark_map if camera.dark_map is not None else camera.baseline
    adu = np.rint(electrons / camera.electrons_per_count + dark)
    return np.clip(adu, 0, 65535).astype(np.uint16)


def simulate(
    *,
    n_frames: int,
    shape: tuple[int, int] = (64, 64),
    pixel_size: float = 100.0,
    psf_sigma: float = 1.3,
    structure: Literal["random", "microtubules"] = "random",
    n_emitters: int = 500,
    active_per_frame: float = 5.0,
    mean_on_frames: float = 2.0,
    photons: float = 2000.0,
    brightness: Literal["constant", "exponential", "lognormal"] = "lognormal",
    background: float = 20.0,
    camera: Camera | None = None,
    margin: float | None = None,
    seed: int | np.random.Generator = 0,
) -> SimulatedMovie:
    """Simulate a blinking SMLM movie with ground truth.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    shape : (int, int)
        Frame shape (rows, columns).
    pixel_size : float
        nm per pixel.
    psf_sigma : float
        PSF standard deviation, pixels.
    structure : {"random", "microtubules"}
        Emitter positions: uniform, or on smooth random filaments.
    n_emitters : int
        Number of labels.
    active_per_frame : float
        Mean number of emitters on per frame (sets the switching-on rate).
    mean_on_frames : float
        Mean on-time, frames (on-times are geometric).
    photons : float
        Mean photons per emitter per on-frame, before quantum efficiency.
    brightness : {"constant", "exponential", "lognormal"}
        Distribution of per-frame photon counts.
    background : float
        Uniform background, photons per pixel.
    camera : Camera, optional
        Camera whose noise chain makes the ADU frames; default a noiseless-readout Poisson camera (1 e⁻/ADU,
        baseline 100).
    margin : float, optional
        Keep emitters this far (nm) from the edges; default 1 pixel.
    seed : int or numpy Generator

    Returns
    -------
    SimulatedMovie
        ``frames`` (n_frames, rows, cols) uint16 ADU; ``truth`` of :data:`TRUTH_DTYPE` with ``photons`` in
        photoelectrons (after quantum efficiency: what a fit should recover).
    """
    if n_frames < 1 or n_emitters < 1:
        raise AnalysisError("n_frames and n_emitters must be >= 1")
    if mean_on_frames < 1:
        raise AnalysisError(f"mean_on_frames must be >= 1, got {mean_on_frames}")
    if not 0 < active_per_frame < n_emitters:
        raise AnalysisError("active_per_frame must be > 0 and < n_emitters")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    camera = camera or Camera(baseline=100.0)
    camera.check_shape(shape)
    margin = pixel_size if margin is None else margin
    ex, ey = _structure(structure, n_emitters, shape, pixel_size, margin, rng)

    # two-state blinking: off → on with p_on, on → off with 1/mean_on, stationary fraction active/n_emitters
    p_off = 1.0 / mean_on_frames
    frac = active_per_frame / n_emitters
    p_on = min(frac * p_off / (1.0 - frac), 1.0)
    on = rng.random(n_emitters) < frac
    qe = camera.quantum_efficiency
    frames = np.empty((n_frames, *shape), np.uint16)
    truth_parts = []
    for t in range(n_frames):
        idx = np.flatnonzero(on)
        n_ph = _brightness(brightness, photons, idx.size, rng)
        mu = np.full(shape, float(background))
        if idx.size:
            mu += integrated_gaussian_image(shape, ex[idx] / pixel_size, ey[idx] / pixel_size, n_ph, sigma=psf_sigma)
            part = np.empty(idx.size, TRUTH_DTYPE)
            part["frame"] = t
            part["x"] = ex[idx]
            part["y"] = ey[idx]
            part["photons"] = n_ph * qe
            truth_parts.append(part)
        frames[t] = _camera_readout(mu, camera, rng)
        u = rng.random(n_emitters)
        on = np.where(on, u >= p_off, u < p_on)
    truth = np.concatenate(truth_parts) if truth_parts else np.empty(0, TRUTH_DTYPE)
    return SimulatedMovie(frames=frames, truth=truth, camera=camera, pixel_size=pixel_size, psf_sigma=psf_sigma)


def simulate_spots(
    n: int,
    *,
    size: int = 7,
    photons: float = 1000.0,
    bg: float = 10.0,
    sigma: float = 1.3,
    jitter: float = 0.5,
    read_variance: np.ndarray | None = None,
    seed: int | np.random.Generator = 0,
) -> SimulatedSpots:
    """Simulate ``n`` single-emitter ROIs in photoelectrons (Poisson, or Poisson + Gaussian read noise).

    Parameters
    ----------
    n, size : int
        Number of ROIs and their side.
    photons, bg, sigma : float
        Emitter photoelectrons, background per pixel, PSF σ (pixels).
    jitter : float
        True centres are uniform within ±jitter pixels of the ROI centre.
    read_variance : ndarray of shape (size, size), optional
        sCMOS read-noise variance per pixel (photoelectrons²): Gaussian noise of that variance is added and the
        map is returned (tiled to every ROI) as ``variance`` for the sCMOS likelihood.
    seed : int or numpy Generator
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    x = size / 2 + rng.uniform(-jitter, jitter, n)
    y = size / 2 + rng.uniform(-jitter, jitter, n)
    edges = np.arange(size + 1, dtype=np.float64)
    scale = math.sqrt(2.0) * sigma

    def frac(c: np.ndarray) -> np.ndarray:
        e = erf((edges[None, :] - c[:, None]) / scale)
        return 0.5 * (e[:, 1:] - e[:, :-1])

    mu = bg + photons * frac(y)[:, :, None] * frac(x)[:, None, :]
    rois = rng.poisson(mu).astype(np.float32)
    variance = None
    if read_variance is not None:
        rv = np.asarray(read_variance, np.float32)
        if rv.shape != (size, size):
            raise AnalysisError(f"read_variance must have shape ({size}, {size}), got {rv.shape}")
        rois += (rng.standard_normal(rois.shape) * np.sqrt(rv)).astype(np.float32)
        variance = np.ascontiguousarray(np.broadcast_to(rv, rois.shape))
    return SimulatedSpots(rois=rois, x=x, y=y, photons=photons, bg=bg, sigma=sigma, variance=variance)
