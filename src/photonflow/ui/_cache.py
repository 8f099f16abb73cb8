"""A small LRU of loaded results tables, keyed by path and listed size (a growing file gets a new key)."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from photonflow.storage import ClusterClient

__all__ = ["ListingCache", "LoadedResults", "ResultsCache"]

LoadedResults = tuple[np.ndarray, dict[str, Any]]
RESULT_SUFFIXES = (".h5r", ".npy", ".csv", ".hdf5", ".hdf")


def load_results(client: ClusterClient, path: str) -> LoadedResults:
    """Fetch a results file from the cluster and read its table (and, for ``.h5r``, its metadata).

    Raises
    ------
    FormatError
        Not a results file.
    NotFoundError
        No such file.
    """
    from photonflow.localization.export import read_results

    suffix = os.path.splitext(path)[1].lower()
    data = client.get_file(path)
    with tempfile.TemporaryDirectory(prefix="photonflow-ui-") as tmp:
        local = os.path.join(tmp, "results" + suffix)
        with open(local, "wb") as f:
            f.write(data)
        if suffix in (".hdf5", ".hdf"):
            yaml_name = path[: -len(suffix)] + ".yaml"
            if client.exists(yaml_name):
                with open(os.path.join(tmp, "results.yaml"), "wb") as f:
                    f.write(client.get_file(yaml_name))
        table = read_results(local)
        metadata: dict[str, Any] = {}
        if suffix == ".h5r":
            from photonflow.formats.h5r import read_metadata

            try:
                metadata = read_metadata(local).to_dict()
            except (KeyError, ValueError, OSError):
                metadata = {}
    return table, metadata


class ResultsCache:
    """Up to ``max_items`` loaded tables; thread-safe; a key is ``(path, size)``."""

    def __init__(self, *, max_items: int = 8) -> None:
        self._items: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_items

    def get(self, key: tuple[str, int], build: Callable[[], Any]) -> Any:
        """The cached value of ``key``, built (outside the lock) on a miss."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return value


class ListingCache:
    """Sorted directory listings for paging, reused for ``max_age_s``; older ones are served once while refreshed.

    Paging through a directory of 100,000 entries must not re-list and re-sort it for every page.
    """

    def __init__(self, *, max_age_s: float = 2.0, stale_s: float = 30.0, max_items: int = 16) -> None:
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._refreshing: set[str] = set()
        self._max_age, self._stale, self._max = max_age_s, stale_s, max_items

    def get(self, key: str, build: Callable[[], Any]) -> Any:
        """The value for ``key``: fresh, stale-while-refreshing (in a thread), or built now."""
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and now - hit[0] < self._max_age:
                return hit[1]
            if hit is not None and now - hit[0] < self._stale:
                if key not in self._refreshing:
                    self._refreshing.add(key)
                    threading.Thread(target=self._refresh, args=(key, build), daemon=True).start()
                return hit[1]
        return self._store(key, build())

    def _refresh(self, key: str, build: Callable[[], Any]) -> None:
        try:
            self._store(key, build())
        except Exception:  # a failed background refresh leaves the old value; the next request builds anew
            with self._lock:
                self._items.pop(key, None)
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def _store(self, key: str, value: Any) -> Any:
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return value

    def forget(self, key: str) -> None:
        """Drop ``key`` (after a write into that directory)."""
        with self._lock:
            self._items.pop(key, None)
