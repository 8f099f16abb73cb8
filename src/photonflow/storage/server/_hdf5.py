"""What the HDF5 container endpoints (``.h5r`` results, ``.h5`` series) share: path splitting, locked durable access.

HDF5 (as PyTables wheels ship it) is not thread-safe, so every PyTables call in the process runs under one lock, the
way PYME's server does. On top of that a per-file lock spans the whole update *including* the fsync, so an fsync never
runs while another request is half-way through changing the same file, and requests to one file are applied one at a
time, whole, in the order they get the lock.

An update is durable when :meth:`ContainerAccess.update` returns: the file was flushed and closed, then fsynced (and
its directory, when the file was created). PYME answers before its data reach disk (§8 S13); we do not.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

import tables

from photonflow.storage.server._aggregate import _StripedLocks
from photonflow.storage.server._writeonce import fsync_path

__all__ = ["ContainerAccess", "split_container"]

T = TypeVar("T")

# The HDF5 library is process-global state that is unsafe to enter from two threads at once, whichever server object
# the threads belong to (tests run several servers in one process), hence a module-level lock.
_HDF5_LOCK = threading.RLock()


def split_container(rel: str, suffixes: tuple[str, ...]) -> tuple[str, str]:
    """Split ``r/x.h5r/FitResults`` into the container file ``r/x.h5r`` and the part inside it, ``FitResults``.

    The container is the first component ending with one of ``suffixes`` (PYME splits at the first ``.h5r``).

    Raises
    ------
    ValueError
        No component ends with one of the suffixes.
    """
    parts = rel.split("/")
    for i, part in enumerate(parts):
        if part.endswith(suffixes) and len(part) > max(len(s) for s in suffixes if part.endswith(s)):
            return "/".join(parts[: i + 1]), "/".join(parts[i + 1 :])
    raise ValueError(f"the path must name a {' or '.join(suffixes)} file, e.g. 'run1/x{suffixes[0]}/<part>'")


class ContainerAccess:
    """Serialised, optionally fsynced access to HDF5 container files.

    Parameters
    ----------
    fsync : bool
        fsync each updated file (and its directory when created) before :meth:`update` returns.
    """

    def __init__(self, *, fsync: bool) -> None:
        self._fsync = fsync
        self._files = _StripedLocks()

    def update(self, path: str, change: Callable[[], T]) -> T:
        """Run ``change`` (which opens, modifies and closes ``path``) under the locks, then make it durable.

        PyTables/HDF5 failures are re-raised as :class:`OSError` (answered 500), since the body was valid.
        """
        created = not os.path.exists(path)
        with self._files.for_path(path):
            with _HDF5_LOCK:
                try:
                    result = change()
                except tables.HDF5ExtError as exc:
                    raise OSError(f"HDF5 error updating {os.path.basename(path)}: {exc}") from exc
            if self._fsync:
                fsync_path(path)
                if created:
                    fsync_path(os.path.dirname(path))
        return result

    def read(self, path: str, query: Callable[[], T]) -> T:
        """Run ``query`` (which opens, reads and closes ``path``) under the locks."""
        with self._files.for_path(path), _HDF5_LOCK:
            return query()
