"""Cut fixed-size ROIs around candidates into one contiguous (n, size, size) float32 batch."""

from __future__ import annotations

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


def extract_rois(image: np.ndarray, origins: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """Copy the ``size``×``size`` windows at ``origins`` (from :func:`roi_origins`) of ``image`` into a batch.

    Returns
    -------
    ndarray of shape (n, size, size), float32, C-contiguous (``out`` when given).
    """
    origins = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
    offs = np.arange(size)
    rr = origins[:, 0, None, None] + offs[None, :, None]
    cc = origins[:, 1, None, None] + offs[None, None, :]
    if out is None:
        out = np.empty((origins.shape[0], size, size), np.float32)
    out[...] = image[rr, cc]
    return out
