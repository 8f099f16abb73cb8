"""Single-file series on the data server: ``PUT /__aggregate_h5/<path>.h5/<component>`` (§1.10, §3.5) and the
container view ``GET /<path>.h5/…`` (§1.8) that presents the file as a ``.pcs``-like directory.

Components: ``metadata.json``/``MetaData`` merge metadata, ``events.json`` appends events, ``frame*`` appends a PZF
blob (validated; its frame number comes from the PZF header; the same bytes again are a no-op, other bytes for a
stored frame number are answered 400), anything else (``final_metadata.json``) is accepted and ignored as PYME does.
Every change is durable before the 200 (:mod:`._hdf5`).

The view lists ``metadata.json``, ``events.json`` (once there are events) and one ``frame%05d.pzf`` per stored frame,
sizes 0 as PYME lists them; frame names with any number of digits are understood (PYME: 5 only, §8 S14).
"""

from __future__ import annotations

import json

from photonflow.formats.h5series import H5Series, parse_frame_name
from photonflow.storage.server._aggregate import ViewResponse
from photonflow.storage.server._hdf5 import ContainerAccess, split_container

__all__ = ["H5SeriesAppend", "H5SeriesView"]

_SUFFIXES = (".h5",)


class H5SeriesAppend:
    """``__aggregate_h5``: store metadata, events and PZF frames in a single-file series.

    Parameters
    ----------
    access : ContainerAccess
        Locks and durability shared with the views.
    """

    kind = "h5"

    def __init__(self, access: ContainerAccess) -> None:
        self._access = access

    def container(self, rel: str) -> str:
        """The series file ``rel`` writes into (``s/x.h5`` for ``s/x.h5/frame00001.pzf``)."""
        return split_container(rel, _SUFFIXES)[0]

    def append(self, target: str, body: bytes, *, rel: str) -> None:
        """Store ``body`` as the component named by ``rel`` of the series file ``target``."""
        component = split_container(rel, _SUFFIXES)[1]
        if not component or "/" in component:
            raise ValueError("name one component after the .h5 file: metadata.json, events.json or frameNNNNN.pzf")
        self._access.update(target, lambda: _put(target, component, body))


def _put(path: str, component: str, body: bytes) -> bool:
    with H5Series(path, "a") as series:
        stored = series.put(component, body)
        series.flush(durable=False)
    return stored


class H5SeriesView:
    """``GET <path>.h5/…``: the series as ``metadata.json``, ``events.json`` and ``frame%05d.pzf`` files."""

    suffixes: tuple[str, ...] = _SUFFIXES

    def __init__(self, access: ContainerAccess) -> None:
        self._access = access

    def view(self, container: str, inner: str, query: str) -> ViewResponse:
        """Answer a GET of ``inner`` inside the series file ``container``."""
        return self._access.read(container, lambda: _answer(container, inner))


def _answer(path: str, inner: str) -> ViewResponse:
    with H5Series(path, "r") as series:
        if inner.strip("/") == "":
            listing = {"metadata.json": [0, 0]}
            if series.has_events():
                listing["events.json"] = [0, 0]
            listing.update({f"frame{n:05d}.pzf": [0, 0] for n in series.frame_numbers()})
            return ViewResponse(200, json.dumps(listing).encode(), "application/json; charset=utf-8")
        if inner == "metadata.json":
            return ViewResponse(200, series.read_metadata().to_json().encode(), "application/json")
        if inner == "events.json" and series.has_events():
            return ViewResponse(200, json.dumps([list(e) for e in series.events()]).encode(), "application/json")
        num = parse_frame_name(inner)
        if num is None:
            raise KeyError(inner)
        return ViewResponse(200, series.frame_blob(num))
