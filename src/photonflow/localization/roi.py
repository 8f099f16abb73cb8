"""Cut fixed-size ROIs around candidates into one contiguous (n, size, size) float32 batch."""

from __future__ import annotations

import numba
import numpy as np

from photonflow.errors import AnalysisError

__all__ = ["extract_rois", "roi_origins"]


def roi_origins(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], size: int) -> np.ndarray:
    """Top-left corners (row, col), int32 (n, 2), of ``size``×``size`` ROIs centred on the candidates.

    Candidates are in pixel-index coordinates (the centre of pixel i is i). ROIs near an edge are shifted inwards,
    not clipped, so every ROI has the full size and edge emitters are still fitted (off-centre).
    """
    if size < 3 or size > min(shape):
        raise AnalysisError(f"ROI size must be in [3, {min(shape)}] for frames of shape {shape}, got {size}")
    half = size // 2
    r0 = np.clip(np.rint(np.asarray(rows)).astype(np.int64) - half, 0, shape[0] - size)
    c0 = np.clip(np.rint(np.asarray(cols)).astype(np.int64) - half, 0, shape[1] - size)
    return np.stack([r0, c0], axis=1).astype(np.int32)


@numba.njit(cache=True, nogil=True)
def _copy_windows(image: np.ndarray, origins: np.ndarray, size: int, out: np.ndarray) -> None:
    for k in range(origins.shape[0]):
        r0 = origins[k, 0]
        c0 = origins[k, 1]
        for i in range(size):
            src = image[r0 + i, c0 : c0 + size]
            dst = out[k, i]
            for j in range(size):
                dst[j] = src[j]


def extract_rois(image: np.ndarray, origins: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """Copy the ``size``×``size`` windows at ``origins`` (from :func:`roi_origins`) of ``image`` into a batch.

    Returns
    -------
    ndarray of shape (n, size, size), float32, C-contiguous (``out`` when given).
    """
    origins = np.ascontiguousarray(np.asarray(origins, dtype=np.int64).reshape(-1, 2))
    n = origins.shape[0]
    if n and (origins.min() < 0 or np.any(origins.max(axis=0) + size > np.asarray(image.shape[:2]))):
        raise AnalysisError(f"ROIs of size {size} at these origins reach outside the {image.shape} image")
    if out is None:
        out = np.empty((n, size, size), np.float32)
    elif out.shape != (n, size, size) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise AnalysisError(f"out must be a C-contiguous float32 array of shape {(n, size, size)}")
    if n:
        _copy_windows(np.ascontiguousarray(image, dtype=np.float32), origins, size, out)
    return out
