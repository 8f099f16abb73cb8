"""Super-resolution rendering of a localization table to an image, and saving it as PNG or TIFF.

Images are indexed ``[row, column] = [y, x]``. Pixel ``(i, j)`` of an image with field of view
``(x_min, y_min, x_max, y_max)`` and pixel size ``p`` covers ``x_min + j·p ≤ x < x_min + (j+1)·p`` and the same in y.
Two renderings are offered: a 2-D histogram (counts per pixel) and a Gaussian by precision, where every localization
adds a Gaussian of unit mass (sampled at pixel centres over ±3σ and renormalised) with σ = its ``x_err``/``y_err``
clipped below at ``min_sigma_nm``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from os import PathLike
from typing import Any, Literal

import numba
import numpy as np

__all__ = [
    "COLORMAPS",
    "FieldOfView",
    "contrast_limits",
    "field_of_view",
    "histogram_xy",
    "render",
    "render_gaussian",
    "render_histogram",
    "save_png",
    "save_tiff",
    "to_rgb",
]

RenderMethod = Literal["histogram", "gaussian"]
COLORMAPS = ("gray", "hot", "magenta", "cyan")
_HALF_WIDTH_SIGMAS = 3.0  # Gaussians are cut at ±3σ (as Picasso does) and renormalised to unit mass


@dataclass(frozen=True)
class FieldOfView:
    """The rendered region: lower-left corner and pixel size in nm, and the image shape."""

    x_min: float
    y_min: float
    pixel_nm: float
    shape: tuple[int, int]  # (rows = y, columns = x)

    @property
    def x_max(self) -> float:
        return self.x_min + self.shape[1] * self.pixel_nm

    @property
    def y_max(self) -> float:
        return self.y_min + self.shape[0] * self.pixel_nm


def field_of_view(
    x: np.ndarray,
    y: np.ndarray,
    *,
    pixel_nm: float,
    fov: tuple[float, float, float, float] | None = None,
) -> FieldOfView:
    """Return the image geometry for points ``x, y`` (nm) at ``pixel_nm``.

    Parameters
    ----------
    x, y : ndarray of shape (N,)
        Positions, nm.
    pixel_nm : float
        Output pixel size, nm.
    fov : tuple of 4 float, optional
        ``(x_min, y_min, x_max, y_max)`` in nm. By default from ``min(0, data min)`` to the data maximum, so an
        image of camera-frame positions starts at the camera origin.

    Raises
    ------
    ValueError
        If the pixel size or field of view is not positive, or the image would exceed 2³¹ pixels.
    """
    if not (pixel_nm > 0 and math.isfinite(pixel_nm)):
        raise ValueError(f"pixel_nm must be a positive number of nm, got {pixel_nm!r}")
    if fov is None:
        finite = np.isfinite(x) & np.isfinite(y)
        if not finite.any():
            fov = (0.0, 0.0, pixel_nm, pixel_nm)
        else:
            fov = (
                min(0.0, float(x[finite].min())),
                min(0.0, float(y[finite].min())),
                float(x[finite].max()) + pixel_nm,
                float(y[finite].max()) + pixel_nm,
            )
    x_min, y_min, x_max, y_max = (float(v) for v in fov)
    if not (x_max > x_min and y_max > y_min):
        raise ValueError(f"fov must be (x_min, y_min, x_max, y_max) with max > min, got {fov!r}")
    nx = math.ceil((x_max - x_min) / pixel_nm)
    ny = math.ceil((y_max - y_min) / pixel_nm)
    if nx * ny > 2**31:
        raise ValueError(f"a {ny}×{nx} image at {pixel_nm} nm/pixel is too large; increase pixel_nm or narrow fov")
    return FieldOfView(x_min, y_min, float(pixel_nm), (ny, nx))


def render_histogram(
    table: np.ndarray,
    *,
    pixel_nm: float = 10.0,
    fov: tuple[float, float, float, float] | FieldOfView | None = None,
) -> np.ndarray:
    """Render localizations as a 2-D histogram (localizations per pixel).

    Parameters
    ----------
    table : structured ndarray
        Needs fields ``x`` and ``y`` (nm); a results table qualifies.
    pixel_nm : float, optional
        Output pixel size, nm (ignored when ``fov`` is a :class:`FieldOfView`).
    fov : tuple of 4 float or FieldOfView, optional
        See :func:`field_of_view`. Localizations outside it are dropped.

    Returns
    -------
    image : ndarray of shape (ny, nx), float32

    Examples
    --------
    >>> from photonflow.localization.results import empty_results
    >>> t = empty_results(3); t["x"] = [5, 15, 15]; t["y"] = [5, 5, 5]
    >>> render_histogram(t, pixel_nm=10, fov=(0, 0, 20, 10)).tolist()
    [[1.0, 2.0]]
    """
    x, y = _xy(table)
    geo = fov if isinstance(fov, FieldOfView) else field_of_view(x, y, pixel_nm=pixel_nm, fov=fov)
    return histogram_xy(x, y, geo)


def histogram_xy(x: np.ndarray, y: np.ndarray, geo: FieldOfView) -> np.ndarray:
    """Count points ``x, y`` (nm) per pixel of ``geo``; points outside are dropped. Returns float32."""
    image = np.zeros(geo.shape, dtype=np.float32)
    _histogram_kernel(np.asarray(x), np.asarray(y), geo.x_min, geo.y_min, 1.0 / geo.pixel_nm, image)
    return image


def render_gaussian(
    table: np.ndarray,
    *,
    pixel_nm: float = 10.0,
    fov: tuple[float, float, float, float] | FieldOfView | None = None,
    min_sigma_nm: float | None = None,
) -> np.ndarray:
    """Render every localization as a unit-mass Gaussian whose σ is its localization precision.

    Parameters
    ----------
    table : structured ndarray
        Needs fields ``x``, ``y``, ``x_err`` and ``y_err`` (nm).
    pixel_nm : float, optional
        Output pixel size, nm (ignored when ``fov`` is a :class:`FieldOfView`).
    fov : tuple of 4 float or FieldOfView, optional
        See :func:`field_of_view`.
    min_sigma_nm : float, optional
        Lower clip of σ (also used for non-finite or non-positive errors); defaults to the pixel size, so every
        localization stays visible and its mass is well sampled.

    Returns
    -------
    image : ndarray of shape (ny, nx), float32
        Each localization well inside the field of view adds 1 to the image sum (its Gaussian is sampled at pixel
        centres over ±3σ, then renormalised).

    Examples
    --------
    >>> from photonflow.localization.results import empty_results
    >>> t = empty_results(2); t["x"] = [500, 700]; t["y"] = 500; t["x_err"] = 15; t["y_err"] = 15
    >>> round(float(render_gaussian(t, pixel_nm=10, fov=(0, 0, 1000, 1000)).sum()), 4)
    2.0
    """
    x, y = _xy(table)
    for name in ("x_err", "y_err"):
        if name not in (table.dtype.names or ()):
            raise ValueError(f"render_gaussian needs column '{name}' (nm); use render_histogram for tables without it")
    geo = fov if isinstance(fov, FieldOfView) else field_of_view(x, y, pixel_nm=pixel_nm, fov=fov)
    floor = geo.pixel_nm if min_sigma_nm is None else float(min_sigma_nm)
    if not (floor > 0 and math.isfinite(floor)):
        raise ValueError(f"min_sigma_nm must be a positive number of nm, got {min_sigma_nm!r}")
    inv = 1.0 / geo.pixel_nm
    # Visiting points row by row keeps the image rows they touch in cache: 2-4x faster on large images.
    order = _row_order(y, geo.y_min, inv, geo.shape[0])
    image = np.zeros(geo.shape, dtype=np.float32)
    xe, ye = np.asarray(table["x_err"]), np.asarray(table["y_err"])
    _splat_gaussians(x[order], y[order], xe[order], ye[order], geo.x_min, geo.y_min, inv, floor * inv, image)
    return image


def render(
    table: np.ndarray,
    *,
    method: RenderMethod = "gaussian",
    pixel_nm: float = 10.0,
    fov: tuple[float, float, float, float] | FieldOfView | None = None,
    min_sigma_nm: float | None = None,
) -> np.ndarray:
    """Render with ``method`` ``"histogram"`` (:func:`render_histogram`) or ``"gaussian"`` (:func:`render_gaussian`)."""
    if method == "histogram":
        return render_histogram(table, pixel_nm=pixel_nm, fov=fov)
    if method == "gaussian":
        return render_gaussian(table, pixel_nm=pixel_nm, fov=fov, min_sigma_nm=min_sigma_nm)
    raise ValueError(f"method must be 'histogram' or 'gaussian', got {method!r}")


def contrast_limits(image: np.ndarray, *, percentile: float = 99.5) -> tuple[float, float]:
    """Return ``(0, vmax)`` where ``vmax`` is the ``percentile`` of the non-zero pixels.

    SMLM images are mostly empty, so the percentile is taken over pixels that hold signal; otherwise a high
    percentile of a sparse image would be 0 and everything would saturate.
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    signal = image[np.isfinite(image) & (image > 0)]
    if signal.size == 0:
        return 0.0, 1.0
    vmax = float(np.percentile(signal, percentile))
    return 0.0, vmax if vmax > 0 else 1.0


def to_rgb(image: np.ndarray, *, colormap: str = "hot", percentile: float = 99.5) -> np.ndarray:
    """Map ``image`` through ``colormap`` with percentile contrast; returns uint8 of shape (ny, nx, 3)."""
    if colormap not in COLORMAPS:
        raise ValueError(f"colormap must be one of {COLORMAPS}, got {colormap!r}")
    lo, hi = contrast_limits(image, percentile=percentile)
    t = np.clip((np.nan_to_num(image.astype(np.float32)) - lo) / (hi - lo), 0.0, 1.0)
    if colormap == "gray":
        channels = (t, t, t)
    elif colormap == "hot":
        channels = (np.clip(3 * t, 0, 1), np.clip(3 * t - 1, 0, 1), np.clip(3 * t - 2, 0, 1))
    elif colormap == "magenta":
        channels = (t, np.zeros_like(t), t)
    else:
        channels = (np.zeros_like(t), t, t)
    return np.rint(np.stack(channels, axis=-1) * 255).astype(np.uint8)


def save_png(
    image: np.ndarray,
    path: str | PathLike[str],
    *,
    colormap: str = "hot",
    percentile: float = 99.5,
) -> None:
    """Save ``image`` as an 8-bit RGB PNG, contrast set by :func:`contrast_limits`, row 0 at the top.

    Parameters
    ----------
    image : ndarray of shape (ny, nx)
    path : str or PathLike
    colormap : {"gray", "hot", "magenta", "cyan"}, optional
    percentile : float, optional
        Percentile of the non-zero pixels that maps to full brightness.
    """
    from PIL import Image

    _check_2d(image)
    Image.fromarray(to_rgb(image, colormap=colormap, percentile=percentile), mode="RGB").save(path, format="PNG")


def save_tiff(image: np.ndarray, path: str | PathLike[str], *, pixel_nm: float | None = None) -> None:
    """Save ``image`` as a float32 TIFF; with ``pixel_nm`` the resolution tags record it (ImageJ-readable).

    Parameters
    ----------
    image : ndarray of shape (ny, nx)
    path : str or PathLike
    pixel_nm : float, optional
        Pixel size in nm, stored as the TIFF resolution (pixels per µm) with unit ``µm`` for ImageJ.
    """
    import tifffile

    _check_2d(image)
    data = np.ascontiguousarray(image, dtype=np.float32)
    if pixel_nm is None:
        tifffile.imwrite(path, data)
    else:
        per_um = 1000.0 / pixel_nm
        tifffile.imwrite(path, data, imagej=True, resolution=(per_um, per_um), metadata={"unit": "um"})


def _check_2d(image: np.ndarray) -> None:
    if np.ndim(image) != 2:
        raise ValueError(f"image must be 2-D (ny, nx), got shape {np.shape(image)}")


def _xy(table: Any) -> tuple[np.ndarray, np.ndarray]:
    names = getattr(getattr(table, "dtype", None), "names", None) or ()
    if "x" not in names or "y" not in names:
        raise ValueError("rendering needs a structured table with columns 'x' and 'y' in nm (e.g. a results table)")
    return np.asarray(table["x"]), np.asarray(table["y"])


@numba.njit(cache=True)
def _histogram_kernel(
    x: np.ndarray, y: np.ndarray, x_min: float, y_min: float, inv_pixel: float, image: np.ndarray
) -> None:  # pragma: no cover - jit
    ny, nx = image.shape
    for k in range(x.size):
        u = (x[k] - x_min) * inv_pixel
        v = (y[k] - y_min) * inv_pixel
        if u >= 0.0 and v >= 0.0 and u < nx and v < ny:  # also rejects NaN
            image[int(v), int(u)] += 1.0


@numba.njit(cache=True)
def _row_order(y: np.ndarray, y_min: float, inv_pixel: float, ny: int) -> np.ndarray:  # pragma: no cover - jit
    """Indices that visit the points by image row (a counting sort; rows outside the image go first/last)."""
    counts = np.zeros(ny + 3, dtype=np.int64)
    rows = np.empty(y.size, dtype=np.int64)
    for k in range(y.size):
        v = (y[k] - y_min) * inv_pixel
        r = 0 if not v >= -1.0 else (ny + 1 if v >= ny else math.floor(v) + 1)  # NaN goes first
        rows[k] = r
        counts[r + 1] += 1
    for r in range(1, ny + 3):
        counts[r] += counts[r - 1]
    order = np.empty(y.size, dtype=np.int64)
    for k in range(y.size):
        order[counts[rows[k]]] = k
        counts[rows[k]] += 1
    return order


@numba.njit(cache=True)
def _splat_gaussians(
    x: np.ndarray,
    y: np.ndarray,
    x_err: np.ndarray,
    y_err: np.ndarray,
    x_min: float,
    y_min: float,
    inv_pixel: float,
    min_sigma_px: float,
    image: np.ndarray,
) -> None:  # pragma: no cover - jit
    """Add a unit-mass Gaussian (pixel-centre samples over ±3σ, renormalised) per finite point.

    σ is the error in pixels, raised to ``min_sigma_px`` when smaller or not finite.
    """
    ny, nx = image.shape
    max_half = 1
    for k in range(x.size):
        for e in (x_err[k], y_err[k]):
            s = e * inv_pixel
            if s > min_sigma_px and s < np.inf:
                max_half = max(max_half, math.ceil(_HALF_WIDTH_SIGMAS * s))
    max_half = max(max_half, math.ceil(_HALF_WIDTH_SIGMAS * min_sigma_px))
    wx = np.empty(2 * max_half + 1)
    wy = np.empty(2 * max_half + 1)
    for k in range(x.size):
        u = (x[k] - x_min) * inv_pixel
        v = (y[k] - y_min) * inv_pixel
        if not (abs(u) < np.inf and abs(v) < np.inf):
            continue
        su = x_err[k] * inv_pixel
        sv = y_err[k] * inv_pixel
        if not (su > min_sigma_px and su < np.inf):
            su = min_sigma_px
        if not (sv > min_sigma_px and sv < np.inf):
            sv = min_sigma_px
        hx = math.ceil(_HALF_WIDTH_SIGMAS * su)
        hy = math.ceil(_HALF_WIDTH_SIGMAS * sv)
        x0 = math.floor(u) - hx
        y0 = math.floor(v) - hy
        nwx = 2 * hx + 1
        nwy = 2 * hy + 1
        if x0 >= nx or y0 >= ny or x0 + nwx <= 0 or y0 + nwy <= 0:
            continue
        ax = -0.5 / (su * su)
        ay = -0.5 / (sv * sv)
        tx = 0.0
        for i in range(nwx):
            d = x0 + i + 0.5 - u
            wx[i] = math.exp(ax * d * d)
            tx += wx[i]
        ty = 0.0
        for j in range(nwy):
            d = y0 + j + 0.5 - v
            wy[j] = math.exp(ay * d * d)
            ty += wy[j]
        norm = 1.0 / (tx * ty)
        i0 = max(0, -x0)
        i1 = min(nwx, nx - x0)
        for j in range(max(0, -y0), min(nwy, ny - y0)):
            wj = wy[j] * norm
            row = y0 + j
            for i in range(i0, i1):
                image[row, x0 + i] += wj * wx[i]
