"""Frames → results table: camera correction, sliding background, detection, ROI batches, fits, streaming.

Frames are consumed one at a time (any iterable of 2-D arrays: a numpy stack, a memory-mapped TIFF, a series
reader), so memory is bounded by the background window plus one batch of ROIs, never the whole movie.
Coordinates: x runs along frame columns, y along rows, nm from the frame corner (see ``results.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numba
import numpy as np

from photonflow.errors import AnalysisError
from photonflow.localization.background import SlidingBackground
from photonflow.localization.camera import Camera
from photonflow.localization.detect import DetectionWorkspace, detect
from photonflow.localization.fit.lsq import fit_lsq
from photonflow.localization.fit.mle import fit_mle
from photonflow.localization.params import LocalizationParams
from photonflow.localization.results import empty_results
from photonflow.localization.roi import extract_rois, roi_origins

__all__ = ["ProgressCallback", "localize", "localize_chunk"]

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(frames_done, localizations_so_far)`` after each frame."""


@numba.njit(cache=True, nogil=True)
def _is_constant(image: np.ndarray) -> bool:
    # stops at the first pixel that differs: almost free on a real frame (numba compiles no generator for all())
    flat = image.ravel()
    v = flat[0]
    for k in range(1, flat.size):  # noqa: SIM110
        if flat[k] != v:
            return False
    return True


@dataclass
class _Batch:
    """ROIs waiting for one parallel fit call."""

    rois: list[np.ndarray] = field(default_factory=list)
    extra: list[np.ndarray] = field(default_factory=list)  # sCMOS variance or LSQ background ROIs
    frames: list[np.ndarray] = field(default_factory=list)
    origins: list[np.ndarray] = field(default_factory=list)
    starts: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    size: int = 0


class _Engine:
    def __init__(self, camera: Camera, params: LocalizationParams, first_index: int, wanted: range | None):
        self.camera = camera
        self.params = params
        self.wanted = wanted
        self.background = SlidingBackground(params.bg_range, percentile=params.bg_percentile, first_index=first_index)
        self.read_var: np.ndarray | None = None
        self.workspace: DetectionWorkspace | None = None
        self.shape: tuple[int, int] | None = None
        self.batch = _Batch()
        self.tables: list[np.ndarray] = []
        self.n_locs = 0
        self.frames_done = 0

    def push(self, raw: np.ndarray) -> None:
        raw = np.asarray(raw)
        if raw.ndim != 2:
            raise AnalysisError(f"frames must be 2-D images, got shape {raw.shape}")
        if self.shape is None:
            self.shape = (int(raw.shape[0]), int(raw.shape[1]))
            self.camera.check_shape(self.shape)
            self.read_var = self.camera.read_variance(self.shape)
            self.workspace = DetectionWorkspace(self.shape, self.params.sigma_low, self.params.sigma_high)
        elif raw.shape != self.shape:
            raise AnalysisError(f"frame shape changed from {self.shape} to {raw.shape}")
        for t, image, bg in self.background.push(self.camera.to_photoelectrons(raw)):
            self._frame(t, image, bg)

    def finish(self) -> np.ndarray:
        for t, image, bg in self.background.finish():
            self._frame(t, image, bg)
        self._fit()
        return np.concatenate(self.tables) if self.tables else empty_results()

    def _frame(self, t: int, image: np.ndarray, bg: np.ndarray) -> None:
        if self.wanted is not None and t not in self.wanted:
            return
        p = self.params
        # a dropped frame reads as all zeros after conversion from a zero ADU frame: nothing to find
        if image.size and _is_constant(image):
            self.frames_done += 1
            return
        assert self.read_var is not None and self.workspace is not None
        cands = detect(
            image,
            camera=self.camera,
            read_variance=self.read_var,
            background=bg,
            threshold=p.threshold,
            sigma_low=p.sigma_low,
            sigma_high=p.sigma_high,
            min_distance=p.min_distance,
            workspace=self.workspace,
        )
        n = len(cands)
        if n:
            size = p.roi_size
            origins = roi_origins(cands.rows, cands.cols, image.shape, size)
            b = self.batch
            b.rois.append(extract_rois(image, origins, size))
            if p.likelihood == "scmos":
                b.extra.append(extract_rois(self.read_var, origins, size))
            elif p.method == "lsq":
                b.extra.append(extract_rois(bg, origins, size))
            b.frames.append(np.full(n, t, np.int32))
            b.origins.append(origins)
            # detection centroids are pixel-index coordinates; ROI coordinates put pixel centres at j + 0.5
            b.starts.append(np.stack([cands.cols - origins[:, 1] + 0.5, cands.rows - origins[:, 0] + 0.5], axis=1))
            b.scores.append(cands.score)
            b.size += n
            if b.size >= p.batch_size:
                self._fit()
        self.frames_done += 1

    def _fit(self) -> None:
        b = self.batch
        if not b.size:
            return
        p = self.params
        cam = self.camera
        rois = np.concatenate(b.rois)
        origins = np.concatenate(b.origins).astype(np.float64)
        out = empty_results(rois.shape[0])
        out["frame"] = np.concatenate(b.frames)
        out["detection_score"] = np.concatenate(b.scores)
        ps = p.pixel_size
        sigma_px = p.psf_sigma / ps
        if p.method == "mle":
            var = np.concatenate(b.extra) if p.likelihood == "scmos" else None
            r = fit_mle(rois, sigma=sigma_px, fit_sigma=p.fit_sigma, variance=var, max_iter=p.max_iter)
            # an EMCCD's excess noise doubles every variance the Poisson model predicts (F² = 2)
            f = cam.noise_factor if p.likelihood == "poisson" else 1.0
            err = np.sqrt(np.maximum(r.crlb, 0.0)) * f
            out["x"] = (origins[:, 1] + r.params[:, 0]) * ps
            out["y"] = (origins[:, 0] + r.params[:, 1]) * ps
            out["photons"] = r.params[:, 2]
            out["bg"] = r.params[:, 3]
            out["sigma"] = r.params[:, 4] * ps
            out["x_err"] = err[:, 0] * ps
            out["y_err"] = err[:, 1] * ps
            out["photons_err"] = err[:, 2]
            out["bg_err"] = err[:, 3]
            out["sigma_err"] = err[:, 4] * ps
            out["loglik"] = r.loglik
            out["chi2"] = r.chi2 / f**2  # so that a good fit reads ≈ 1 on an EMCCD too
            out["iterations"] = r.iterations
            out["converged"] = r.converged
        else:
            bg_rois = np.concatenate(b.extra)
            rv = extract_rois(self.read_var, np.concatenate(b.origins), p.roi_size)  # type: ignore[arg-type]
            weights = 1.0 / np.sqrt(cam.noise_variance(rois, rv))
            q = fit_lsq(rois - bg_rois, weights, sigma=sigma_px, starts=np.concatenate(b.starts), max_iter=p.max_iter)
            out["x"] = (origins[:, 1] + q.params[:, 1]) * ps
            out["y"] = (origins[:, 0] + q.params[:, 2]) * ps
            out["photons"] = q.photons
            # the fitted offset sits on top of the subtracted background estimate
            out["bg"] = q.params[:, 4] + bg_rois.mean(axis=(1, 2))
            out["sigma"] = q.params[:, 3] * ps
            out["x_err"] = q.errors[:, 1] * ps
            out["y_err"] = q.errors[:, 2] * ps
            out["photons_err"] = q.photons_err
            out["bg_err"] = q.errors[:, 4]
            out["sigma_err"] = q.errors[:, 3] * ps
            out["loglik"] = np.nan
            out["chi2"] = q.chi2
            out["iterations"] = q.iterations
            out["converged"] = q.converged
        self.tables.append(out)
        self.n_locs += out.shape[0]
        self.batch = _Batch()


def _run(
    frames: Iterable[np.ndarray],
    engine: _Engine,
    progress: ProgressCallback | None,
) -> np.ndarray:
    for raw in frames:
        engine.push(raw)
        if progress is not None:
            progress(engine.frames_done, engine.n_locs + engine.batch.size)
    table = engine.finish()
    if progress is not None:
        progress(engine.frames_done, engine.n_locs)
    return table


def localize(
    frames: Iterable[np.ndarray],
    *,
    camera: Camera,
    params: LocalizationParams | None = None,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Localize every emitter in a movie.

    Parameters
    ----------
    frames : iterable of ndarray of shape (H, W)
        Raw ADU frames in acquisition order (a 3-D array, a list, a generator, a series reader).
    camera : Camera
        Camera model to convert ADU to photoelectrons and to describe the noise.
    params : LocalizationParams, optional
        Analysis parameters (defaults if omitted).
    progress : callable, optional
        ``progress(frames_done, localizations)`` after every frame.

    Returns
    -------
    ndarray of :data:`~photonflow.localization.results.LOCALIZATION_DTYPE`
        One row per localization; ``frame`` counts from ``params.frame_offset``. Rows come in frame order.
    """
    params = params or LocalizationParams()
    engine = _Engine(camera, params, params.frame_offset, None)
    return _run(frames, engine, progress)


def localize_chunk(
    frames: Iterable[np.ndarray],
    first_frame: int,
    *,
    camera: Camera,
    params: LocalizationParams | None = None,
    preceding: Iterable[np.ndarray] = (),
    following: Iterable[np.ndarray] = (),
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Localize one chunk of a series (a distributed task), with the background window handled across its edges.

    Parameters
    ----------
    frames : iterable of ndarray
        The chunk's raw frames; the first is frame ``first_frame`` of the series.
    first_frame : int
        Absolute frame number of the chunk's first frame (written to the ``frame`` column).
    preceding, following : iterable of ndarray
        The frames just before and after the chunk that its background window reaches (``-bg_range[0]`` before,
        ``bg_range[1] - 1`` after; fewer at the series edges). They feed the background only: they yield no rows.
        With them, the rows equal those of :func:`localize` over the whole series for these frames.
    camera, params, progress
        As :func:`localize`; ``params.frame_offset`` is ignored.
    """
    params = params or LocalizationParams()
    before = [np.asarray(f) for f in preceding]
    chunk = [np.asarray(f) for f in frames]
    if first_frame < len(before):
        raise AnalysisError(f"{len(before)} preceding frames given but the chunk starts at frame {first_frame}")
    wanted = range(first_frame, first_frame + len(chunk))
    engine = _Engine(camera, params, first_frame - len(before), wanted)

    def stream() -> Iterable[np.ndarray]:
        yield from before
        yield from chunk
        yield from following

    table = _run(stream(), engine, progress)
    return table[(table["frame"] >= wanted.start) & (table["frame"] < wanted.stop)]
