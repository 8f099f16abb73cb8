"""A small LRU of loaded results tables, keyed by path and listed size (a growing file gets a new key)."""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from photonflow.storage import ClusterClient

__all__ = ["LoadedResults", "ResultsCache"]

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
