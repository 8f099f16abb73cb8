"""Results: the rendered super-resolution image, count, histograms, drift trace and downloads of a results file."""

from __future__ import annotations

import io
import math
import os
import tempfile
import warnings
import zipfile
from typing import Any
from urllib.parse import quote

import numpy as np
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from photonflow.errors import FormatError, NotFoundError
from photonflow.storage import ClusterClient
from photonflow.storage.client import normalize_path
from photonflow.ui._cache import RESULT_SUFFIXES, LoadedResults, load_results
from photonflow.ui._charts import histogram_svg, trace_svg
from photonflow.ui._web import blocking, breadcrumbs, page, state_of, url_path

__all__ = ["camera_geometry", "render_png", "routes"]

MAX_IMAGE_PIXELS = 40_000_000


def _path(request: Request) -> str:
    try:
        path = normalize_path(request.path_params["path"])
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    if not path.lower().endswith(RESULT_SUFFIXES):
        raise HTTPException(400, f"/{path} is not a results file ({', '.join(RESULT_SUFFIXES)})")
    return path


def _loaded(request: Request, path: str) -> LoadedResults:
    state = state_of(request)
    size = state.client.stat(path).size
    loaded: LoadedResults = state.results.get((path, size), lambda: load_results(state.client, path))
    return loaded


def camera_geometry(table: np.ndarray, metadata: dict[str, Any]) -> tuple[float, int, int]:
    """``(pixel_nm, width, height)`` of the camera: from the metadata when it says, else from the data extent."""
    pixel = float(metadata.get("voxelsize.x", 0.1)) * 1000.0 if "voxelsize.x" in metadata else 100.0
    width = metadata.get("Camera.ROIWidth") or metadata.get("SizeX")
    height = metadata.get("Camera.ROIHeight") or metadata.get("SizeY")
    if not isinstance(width, int) or not isinstance(height, int):
        x_max = float(np.nanmax(table["x"])) if table.size else pixel
        y_max = float(np.nanmax(table["y"])) if table.size else pixel
        width, height = max(1, math.ceil(x_max / pixel)), max(1, math.ceil(y_max / pixel))
    return pixel, int(width), int(height)


def render_png(table: np.ndarray, *, pixel_nm: float, fov: tuple[float, float, float, float] | None,
               method: str = "histogram") -> bytes:
    """The rendered image as an RGB PNG (``hot`` colour map, percentile contrast).

    Raises
    ------
    ValueError
        Bad pixel size, or an image over :data:`MAX_IMAGE_PIXELS` pixels.
    """
    from PIL import Image

    from photonflow.localization.render import field_of_view, render, to_rgb

    geo = field_of_view(table["x"], table["y"], pixel_nm=pixel_nm, fov=fov)
    if geo.shape[0] * geo.shape[1] > MAX_IMAGE_PIXELS:
        raise ValueError(f"a {geo.shape[1]}×{geo.shape[0]} image is too large; choose a larger pixel size")
    image = render(table, method="gaussian" if method == "gaussian" else "histogram", pixel_nm=pixel_nm, fov=geo)
    buffer = io.BytesIO()
    Image.fromarray(to_rgb(image), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


async def results_page(request: Request) -> Response:
    """The results page."""
    path = _path(request)
    try:
        table, metadata = await blocking(_loaded, request, path)
    except (NotFoundError, FormatError) as exc:
        return page(request, "error.html", {"title": "No results", "message": str(exc)}, status_code=404)
    pixel, width, height = camera_geometry(table, metadata)
    charts = {
        "photons": histogram_svg(table["photons"], label="photons"),
        "precision": histogram_svg(np.hypot(table["x_err"], table["y_err"]) / math.sqrt(2), label="precision (nm)"),
        "sigma": histogram_svg(table["sigma"], label="σ (nm)"),
    }
    frames = int(table["frame"].max()) + 1 if table.size else 0
    return page(request, "results.html", {
        "path": path,
        "qpath": url_path(path),
        "crumbs": breadcrumbs(path),
        "count": int(table.size),
        "frames": frames,
        "charts": charts,
        "camera": {"pixel_nm": pixel, "width": width, "height": height},
        "render_px": float(request.query_params.get("px", 10.0)),
        "is_h5r": path.lower().endswith(".h5r"),
    })


async def image(request: Request) -> Response:
    """The rendered image (query ``px``: nm per pixel; ``method``: histogram or gaussian) over the camera frame."""
    path = _path(request)
    try:
        pixel_nm = float(request.query_params.get("px", 10.0))
    except ValueError:
        raise HTTPException(400, "px must be a number of nm") from None
    method = request.query_params.get("method", "histogram")
    table, metadata = await blocking(_loaded, request, path)
    cam_px, width, height = camera_geometry(table, metadata)
    fov = (0.0, 0.0, width * cam_px, height * cam_px)
    try:
        png = await blocking(render_png, table, pixel_nm=pixel_nm, fov=fov, method=method)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return Response(png, media_type="image/png")


def _drift_svg(table: np.ndarray, pixel_nm: float) -> str:
    from photonflow.localization.drift import estimate_drift

    frames = int(table["frame"].max()) + 1 if table.size else 0
    segment = max(50, frames // 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = estimate_drift(table, segment_frames=segment, pixel_size_nm=pixel_nm,
                               min_events_per_segment=max(20, table.size // 40))
    return trace_svg(trace.frames, {"x": trace.x, "y": trace.y}, label="drift (nm) vs frame")


async def drift(request: Request) -> Response:
    """The drift trace estimated from the localizations (SVG), or a note why there is none."""
    path = _path(request)
    table, metadata = await blocking(_loaded, request, path)
    pixel, _, _ = camera_geometry(table, metadata)
    try:
        svg = await blocking(_drift_svg, table, pixel)
    except (ValueError, RuntimeError) as exc:
        svg = ('<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 320 60">'
               f'<text x="5" y="30" font-size="11">no drift estimate: {str(exc)[:80]}</text></svg>')
    return Response(svg, media_type="image/svg+xml")


def _export(client: ClusterClient, path: str, table: np.ndarray, metadata: dict[str, Any], kind: str) -> bytes:
    from photonflow.formats.h5r import append_table
    from photonflow.localization.export import write_picasso_hdf5, write_thunderstorm_csv

    with tempfile.TemporaryDirectory(prefix="photonflow-ui-") as tmp:
        if kind == "h5r":
            if path.lower().endswith(".h5r"):
                return client.get_file(path)
            target = os.path.join(tmp, "results.h5r")
            append_table(target, "FitResults", table, durable=False)
        elif kind == "csv":
            target = os.path.join(tmp, "results.csv")
            write_thunderstorm_csv(table, target)
        else:
            pixel, width, height = camera_geometry(table, metadata)
            target = os.path.join(tmp, "results.hdf5")
            write_picasso_hdf5(table, target, pixel_size_nm=pixel, width=width, height=height)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.write(target, "locs.hdf5")
                archive.write(os.path.join(tmp, "results.yaml"), "locs.yaml")
            return buffer.getvalue()
        with open(target, "rb") as f:
            return f.read()


_DOWNLOADS = {"h5r": (".h5r", "application/x-hdf5"), "csv": (".csv", "text/csv"),
              "picasso": ("_picasso.zip", "application/zip")}


async def download(request: Request) -> Response:
    """The results as ``h5r``, ThunderSTORM ``csv`` or ``picasso`` (HDF5 + YAML, zipped)."""
    path = _path(request)
    kind = request.query_params.get("format", "h5r")
    if kind not in _DOWNLOADS:
        raise HTTPException(400, f"format must be one of {sorted(_DOWNLOADS)}")
    table, metadata = await blocking(_loaded, request, path)
    data = await blocking(_export, state_of(request).client, path, table, metadata, kind)
    suffix, media = _DOWNLOADS[kind]
    stem = os.path.splitext(path.rsplit("/", 1)[-1])[0]
    return Response(data, media_type=media,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(stem + suffix)}"})


routes = [
    Route("/results/{path:path}", results_page, name="results"),
    Route("/results-image/{path:path}", image, name="results_image"),
    Route("/results-drift/{path:path}", drift, name="results_drift"),
    Route("/results-download/{path:path}", download, name="results_download"),
]
