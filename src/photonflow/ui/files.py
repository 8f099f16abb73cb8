"""Files: browse the union namespace, download files and series (multi-page TIFF), upload, new folder."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from photonflow.errors import AlreadyExistsError, NotFoundError, StorageError
from photonflow.storage import ClusterClient, DirectoryListing
from photonflow.storage.client import SERIES, SERIES_COMPLETE, normalize_path
from photonflow.ui._web import blocking, breadcrumbs, flash, human_size, page, state_of, url_path, writer_endpoint

__all__ = ["ListedEntry", "list_page", "routes", "series_frame_count", "sorted_names"]

# Files of a series directory that are not frames (PYME counts frames as entries − 3 the same way).
_SERIES_SIDE_FILES = ("metadata.json", "final_metadata.json", "events.json")
# A multi-page TIFF is built on the UI host: refuse more than this many frames in one download.
MAX_TIFF_FRAMES = 20_000


@dataclass(frozen=True, slots=True)
class ListedEntry:
    """One row of a directory page."""

    name: str
    path: str
    kind: str  # "dir", "series" or "file"
    size: int
    frames: int | None = None
    complete: bool = False

    @property
    def size_text(self) -> str:
        """Human size (files) or entry count (directories)."""
        if self.kind == "file":
            return human_size(self.size)
        if self.kind == "series":
            return f"{self.frames} frames"
        return f"{self.size} entries"


def series_frame_count(entry_count: int, flags: int) -> int:
    """Frames in a series directory from its listed entry count and flags (no listing of the series needed)."""
    side = 1 + (2 if flags & SERIES_COMPLETE else 0)
    return max(entry_count - side, 0)


def _entry(directory: str, name: str, flags: int, size: int) -> ListedEntry:
    bare = name.rstrip("/")
    path = f"{directory}/{bare}" if directory else bare
    if flags & SERIES:
        return ListedEntry(bare, path, "series", size, series_frame_count(size, flags), bool(flags & SERIES_COMPLETE))
    if flags > 0 or name.endswith("/"):
        return ListedEntry(bare, path, "dir", size)
    return ListedEntry(bare, path, "file", size)


def sorted_names(listing: DirectoryListing) -> list[str]:
    """Names in page order: directories and series first, then files, each by name."""
    entries = listing.entries
    return sorted(entries, key=lambda n: (not n.endswith("/") and entries[n].type <= 0, n))


def list_page(listing: DirectoryListing, *, page_number: int, page_size: int,
              names: list[str] | None = None) -> tuple[list[ListedEntry], int]:
    """Entries of one page and the page count (``names``: :func:`sorted_names` of the listing, if known)."""
    names = sorted_names(listing) if names is None else names
    pages = max(1, -(-len(names) // page_size))
    start = (min(max(page_number, 1), pages) - 1) * page_size
    rows = [_entry(listing.path, n, listing[n].type, listing[n].size) for n in names[start : start + page_size]]
    return rows, pages


def _path_param(request: Request) -> str:
    try:
        return normalize_path(request.path_params.get("path", ""))
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


def _sorted_listing(client: ClusterClient, path: str) -> tuple[DirectoryListing, list[str]]:
    listing = client.listdirectory(path)
    return listing, sorted_names(listing)


def _flags(client: ClusterClient, path: str) -> int:
    try:
        return client.stat(path).type
    except NotFoundError:
        return 0


async def browse(request: Request) -> Response:
    """A directory page, or the series page when the path is a series."""
    state = state_of(request)
    path = _path_param(request)
    if path and (await blocking(_flags, state.client, path)) & SERIES:
        return RedirectResponse(f"/series/{url_path(path)}", status_code=303)
    try:
        listing, names = await blocking(state.listings.get, path, lambda: _sorted_listing(state.client, path))
    except NotFoundError:
        return page(request, "error.html", {"title": "Not found", "message": f"/{path} does not exist"},
                    status_code=404)
    try:
        number = int(request.query_params.get("page", "1"))
    except ValueError:
        number = 1
    rows, pages = list_page(listing, page_number=number, page_size=state.page_size, names=names)
    return page(request, "files.html", {
        "path": path,
        "crumbs": breadcrumbs(path),
        "rows": rows,
        "total": len(listing),
        "page": min(max(number, 1), pages),
        "pages": pages,
        "unavailable": listing.unavailable,
        "qpath": url_path,
    })


async def download(request: Request) -> Response:
    """The raw bytes of a cluster file."""
    client = state_of(request).client
    path = _path_param(request)
    try:
        data = await blocking(client.get_file, path)
    except NotFoundError:
        raise HTTPException(404, f"/{path} does not exist") from None
    name = path.rsplit("/", 1)[-1]
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})


def write_series_tiff(client: ClusterClient, path: str, target: str) -> int:
    """Write the frames of series ``path`` into a multi-page TIFF file ``target``; returns the frame count.

    Raises
    ------
    ValueError
        The series has more than :data:`MAX_TIFF_FRAMES` frames.
    """
    import tifffile

    from photonflow.formats.series import SeriesReader

    reader = SeriesReader(client, path)
    if len(reader) > MAX_TIFF_FRAMES:
        raise ValueError(f"/{path} has {len(reader)} frames; a TIFF download is limited to {MAX_TIFF_FRAMES}")
    with tifffile.TiffWriter(target, bigtiff=True) as tif:
        for i in range(len(reader)):
            # PYME stores axis 0 as x; a TIFF page is (rows=y, columns=x).
            tif.write(reader[i].T, contiguous=True)
    return len(reader)


async def download_tiff(request: Request) -> Response:
    """A series as one multi-page TIFF (built in a temporary file, deleted after sending)."""
    client = state_of(request).client
    path = _path_param(request)
    fd, target = tempfile.mkstemp(suffix=".tif", prefix="photonflow-ui-")
    os.close(fd)
    try:
        await blocking(write_series_tiff, client, path, target)
    except NotFoundError:
        os.unlink(target)
        raise HTTPException(404, f"/{path} is not a series") from None
    except ValueError as exc:
        os.unlink(target)
        raise HTTPException(413, str(exc)) from None
    name = path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".pcs") + ".tif"
    return FileResponse(target, media_type="image/tiff", filename=name, background=BackgroundTask(os.unlink, target))


def _store_uploads(client: ClusterClient, directory: str, files: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
    messages: list[tuple[str, str]] = []
    for name, data in files:
        target = f"{directory}/{name}" if directory else name
        try:
            client.put_file(target, data)
        except AlreadyExistsError:
            messages.append(("error", f"{name}: a file of that name exists in /{directory}. Cluster files are "
                                      "write-once and never overwritten: rename your file and upload it again."))
        except (StorageError, ValueError) as exc:
            messages.append(("error", f"{name}: not stored: {exc}"))
        else:
            messages.append(("ok", f"{name}: stored ({human_size(len(data))})"))
    return messages


@writer_endpoint
async def upload(request: Request) -> Response:
    """Store every uploaded file in the directory (write-once: existing names are refused, by name)."""
    client = state_of(request).client
    directory = _path_param(request)
    form = await request.form(max_files=1000, max_fields=1000)
    files: list[tuple[str, bytes]] = []
    for item in form.getlist("files"):
        if isinstance(item, UploadFile) and item.filename:
            name = os.path.basename(item.filename.replace("\\", "/"))
            files.append((name, await item.read()))
    if not files:
        flash(request, "error", "choose one or more files to upload")
    state_of(request).listings.forget(directory)
    for kind, message in await blocking(_store_uploads, client, directory, files):
        flash(request, kind, message)
    return RedirectResponse(f"/files/{url_path(directory)}", status_code=303)


def make_directory(client: ClusterClient, path: str) -> None:
    """Create an empty directory on one server (the protocol's mkdir, via :meth:`ClusterClient.mkdir`).

    Raises
    ------
    AlreadyExistsError
        A file or directory of that name exists.
    """
    client.mkdir(path)


@writer_endpoint
async def mkdir(request: Request) -> Response:
    """Create a folder named by the form field ``name`` inside the directory."""
    client = state_of(request).client
    directory = _path_param(request)
    form = await request.form()
    raw = form.get("name")
    name = raw.strip() if isinstance(raw, str) else ""
    if not name or "/" in name or name in (".", "..") or name.startswith("__"):
        flash(request, "error", "a folder name must be one path component, not empty, '.', '..' or start with '__'")
        return RedirectResponse(f"/files/{url_path(directory)}", status_code=303)
    target = f"{directory}/{name}" if directory else name
    state_of(request).listings.forget(directory)
    try:
        await blocking(make_directory, client, target)
    except AlreadyExistsError:
        flash(request, "error", f"/{target} already exists: choose another name")
    except StorageError as exc:
        flash(request, "error", f"could not create /{target}: {exc}")
    else:
        flash(request, "ok", f"created folder /{target}")
    return RedirectResponse(f"/files/{url_path(directory)}", status_code=303)


routes = [
    Route("/files/{path:path}", browse, name="files"),
    Route("/download/{path:path}", download, name="download"),
    Route("/tiff/{path:path}", download_tiff, name="tiff"),
    Route("/upload/{path:path}", upload, methods=["POST"], name="upload"),
    Route("/mkdir/{path:path}", mkdir, methods=["POST"], name="mkdir"),
]
