"""Series: metadata table, frame viewer (frames rendered to PNG on the server), live frame count, Analyse."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from photonflow.errors import FormatError, NotFoundError
from photonflow.formats import pzf
from photonflow.formats.metadata import Metadata
from photonflow.formats.series import frame_name
from photonflow.storage import ClusterClient
from photonflow.storage.client import SERIES, SERIES_COMPLETE, normalize_path
from photonflow.ui._web import blocking, breadcrumbs, page, state_of, url_path
from photonflow.ui.files import series_frame_count

__all__ = ["frame_png", "routes", "series_state"]


def series_state(client: ClusterClient, path: str, *, fresh: bool = False) -> tuple[int, bool]:
    """``(frames, complete)`` of a series from its parent's listing (one small request, whatever the series size).

    Raises
    ------
    NotFoundError
        ``path`` is not a series.
    """
    parent, _, name = path.rpartition("/")
    listing = client.listdirectory(parent, fresh=fresh)
    entry = listing.get(name + "/") or listing.get(name)
    if entry is None or not entry.type & SERIES:
        raise NotFoundError(f"/{path} is not a series")
    return series_frame_count(entry.size, entry.type), bool(entry.type & SERIES_COMPLETE)


def frame_png(frame: np.ndarray, *, lo_pct: float = 0.5, hi_pct: float = 99.8) -> bytes:
    """An 8-bit grey PNG of one frame (PYME axis order: axis 0 is x), contrast from percentiles of its pixels.

    Raises
    ------
    ValueError
        The percentiles are not ``0 <= lo < hi <= 100``.
    """
    from PIL import Image

    if not 0 <= lo_pct < hi_pct <= 100:
        raise ValueError(f"contrast needs 0 <= low < high <= 100 (percent), got {lo_pct}, {hi_pct}")
    image = np.asarray(frame, dtype=np.float32).T
    lo, hi = np.percentile(image, [lo_pct, hi_pct])
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    grey = np.clip((image - lo) * scale, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grey, mode="L").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _path(request: Request) -> str:
    try:
        return normalize_path(request.path_params["path"])
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


def _series_info(client: ClusterClient, path: str) -> dict[str, Any]:
    frames, complete = series_state(client, path)
    metadata = Metadata.from_json(client.get_file(f"{path}/metadata.json"))
    shape: tuple[int, ...] = ()
    if frames:
        shape = pzf.decode_header(client.get_file(f"{path}/{frame_name(0)}")).shape
    return {"frames": frames, "complete": complete, "metadata": metadata, "shape": shape}


async def series_page(request: Request) -> Response:
    """The series page."""
    client = state_of(request).client
    path = _path(request)
    try:
        info = await blocking(_series_info, client, path)
    except (NotFoundError, FormatError) as exc:
        return page(request, "error.html", {"title": "Not a series", "message": str(exc)}, status_code=404)
    rows = sorted((k, v) for k, v in info["metadata"].to_dict().items())
    return page(request, "series.html", {
        "path": path,
        "qpath": url_path(path),
        "crumbs": breadcrumbs(path),
        "metadata_rows": rows,
        **info,
    })


def _query_float(request: Request, name: str, default: float) -> float:
    try:
        return float(request.query_params.get(name, default))
    except ValueError:
        raise HTTPException(400, f"query parameter {name} must be a number") from None


async def frame(request: Request) -> Response:
    """Frame ``i`` of a series as PNG (``lo``/``hi``: contrast percentiles)."""
    client = state_of(request).client
    path = _path(request)
    index = int(_query_float(request, "i", 0))
    lo, hi = _query_float(request, "lo", 0.5), _query_float(request, "hi", 99.8)
    try:
        blob = await blocking(client.get_file, f"{path}/{frame_name(index)}")
        data, _ = pzf.decode(blob)
        png = await blocking(frame_png, data, lo_pct=lo, hi_pct=hi)
    except NotFoundError:
        raise HTTPException(404, f"/{path} has no frame {index} (yet)") from None
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    # Frames are write-once: a frame never changes, so the browser may keep it.
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


async def count(request: Request) -> Response:
    """``{"frames": n, "complete": bool}`` now (the page polls this only while the series is spooling)."""
    client = state_of(request).client
    path = _path(request)
    try:
        frames, complete = await blocking(series_state, client, path, fresh=True)
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    return JSONResponse({"frames": frames, "complete": complete})


routes = [
    Route("/series/{path:path}", series_page, name="series"),
    Route("/frame/{path:path}", frame, name="frame"),
    Route("/series-count/{path:path}", count, name="series_count"),
]
