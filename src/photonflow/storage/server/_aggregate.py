"""Append endpoints ``PUT /__aggregate_<kind>/<path>`` (reference §1.10), as a small registry of handlers.

Each handler is an object with ``kind`` (the part after ``__aggregate_``) and ``append(target, body, *, rel)``.
Another kind (``h5r``, ``h5``) is added by writing a handler class and listing it in :func:`default_aggregators`.
The read side of such containers (``GET /r/x.h5r/FitResults.json``, ``GET /s.h5/frame00001.pzf``; §1.8, §1.9) is a
:class:`ContainerView` registered beside it: a GET whose path runs *through* a regular file with one of the view's
suffixes is handed to that view.
Dispatch is on the whole first path component, so ``__aggregate_h5r`` and ``__aggregate_h5`` never collide.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import zlib
from collections.abc import Iterable, Mapping
from typing import Protocol

__all__ = ["AggregateHandler", "Aggregators", "ContainerView", "TextAppend", "ViewResponse", "default_aggregators"]

PREFIX = "__aggregate_"


class AggregateHandler(Protocol):
    """What an aggregate endpoint implements."""

    kind: str

    def container(self, rel: str) -> str:
        """The root-relative file that a PUT of ``rel`` appends to: ``rel`` itself for plain files, the container
        for paths running through one (``r/x.h5r`` for ``r/x.h5r/FitResults``). ``ValueError`` if there is none."""
        ...

    def append(self, target: str, body: bytes, *, rel: str) -> None:
        """Append ``body`` (already gunzipped) to the file at absolute path ``target`` (the :meth:`container` of
        ``rel``; ``rel`` is the whole path after the prefix, relative to root).

        Parent directories exist when this is called. Raise ``ValueError`` for a body or path this kind cannot
        take (answered 400), ``OSError`` for a storage failure (answered 500/507).
        """
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class ViewResponse:
    """What a container view answers: a status, a body and its content type."""

    status: int
    body: bytes
    content_type: str = "application/octet-stream"


class ContainerView(Protocol):
    """Read access to the inside of a container file (``x.h5r/<Table>.json``, ``s.h5/frame00001.pzf``)."""

    suffixes: tuple[str, ...]

    def view(self, container: str, inner: str, query: str) -> ViewResponse:
        """Answer a GET of ``inner`` (path inside the container; ends with ``/`` for a listing) of the file at
        absolute path ``container``. Raise ``ValueError`` for a malformed request (400), ``KeyError`` for a missing
        part (404)."""
        ...


class _StripedLocks:
    """A fixed set of locks chosen by path hash: bounded memory, unlike a per-file lock dict (S15)."""

    def __init__(self, n: int = 64) -> None:
        self._locks = [threading.Lock() for _ in range(n)]

    def for_path(self, path: str) -> threading.Lock:
        return self._locks[zlib.crc32(path.encode("utf-8", "surrogateescape")) % len(self._locks)]


class TextAppend:
    """``__aggregate_txt``: append raw bytes (writers bring their own newlines); one writer per file at a time."""

    kind = "txt"

    def __init__(self, *, fsync: bool) -> None:
        self._fsync = fsync
        self._locks = _StripedLocks()

    def container(self, rel: str) -> str:
        return rel

    def append(self, target: str, body: bytes, *, rel: str) -> None:
        with self._locks.for_path(target):
            fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view) :]
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)


class Aggregators:
    """Registry of aggregate handlers keyed by kind."""

    def __init__(self, handlers: Iterable[AggregateHandler], views: Iterable[ContainerView] = ()) -> None:
        self._by_kind: Mapping[str, AggregateHandler] = {h.kind: h for h in handlers}
        self._views = tuple(views)

    def match_view(self, parts: list[str]) -> tuple[ContainerView, int] | None:
        """For a GET path split into components, the view and the index of the container component, if any.

        Only components before the last can be containers (a GET of the container itself is a plain file GET).
        """
        for index, part in enumerate(parts[:-1]):
            for view in self._views:
                if part.endswith(view.suffixes):
                    return view, index
        return None

    def match(self, path: str) -> tuple[AggregateHandler, str] | None:
        """For a decoded request path (no leading ``/``) starting with ``__aggregate``, the handler and the rest.

        Returns ``None`` when no handler's prefix matches (answered 404).
        """
        head, _, rest = path.partition("/")
        if not head.startswith(PREFIX):
            return None
        handler = self._by_kind.get(head.removeprefix(PREFIX))
        return None if handler is None else (handler, rest)


def default_aggregators(*, fsync: bool, allow_pickle: bool = False) -> Aggregators:
    """The aggregate endpoints and container views this server offers (``allow_pickle``: accept pickled results)."""
    # Imported here: the HDF5 modules import this one, and PyTables is only loaded by servers that build handlers.
    from photonflow.storage.server._h5 import H5SeriesAppend, H5SeriesView
    from photonflow.storage.server._h5r import H5RAppend, H5RTableView
    from photonflow.storage.server._hdf5 import ContainerAccess

    access = ContainerAccess(fsync=fsync)
    return Aggregators(
        [TextAppend(fsync=fsync), H5RAppend(access, allow_pickle=allow_pickle), H5SeriesAppend(access)],
        [H5RTableView(access), H5SeriesView(access)],
    )
