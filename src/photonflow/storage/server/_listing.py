"""JSON directory listings with PYME's flag bits, cached and kept exact across writes.

One rule decides the flags, for fresh and incremental listings alike (fixes reference §8 S5–S7):

* directory: ``0x01``, plus ``0x02`` if it holds ``metadata.json``, plus ``0x04`` if it holds ``events.json``;
  its size is its number of entries (no ``.``/``..``);
* a file named ``*.h5`` (a single-file series, always complete): ``0x02 | 0x04`` with its byte size;
* any other file: ``0`` with its byte size (64-bit).

A cached listing is re-read when the directory's mtime changes, and updated in place by the server's own writes,
so a listing is correct immediately after any PUT, mkdir or append made through this server.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections import OrderedDict

__all__ = ["DIRECTORY", "SERIES", "SERIES_COMPLETE", "Listings", "entry_for", "flags_for_dir"]

DIRECTORY = 0x01
SERIES = 0x02
SERIES_COMPLETE = 0x04

Entry = tuple[int, int]


def flags_for_dir(path: str) -> int:
    """Flag bits of the directory at ``path``."""
    flags = DIRECTORY
    if os.path.exists(os.path.join(path, "metadata.json")):
        flags |= SERIES
    if os.path.exists(os.path.join(path, "events.json")):
        flags |= SERIES_COMPLETE
    return flags


def _file_flags(name: str) -> int:
    return SERIES | SERIES_COMPLETE if name.endswith(".h5") else 0


def entry_for(path: str, name: str, st: os.stat_result, count_dir: int | None = None) -> tuple[str, Entry]:
    """The listing key and ``[type, size]`` of one directory entry."""
    if stat.S_ISDIR(st.st_mode):
        count = count_dir if count_dir is not None else _count(path)
        return name + "/", (flags_for_dir(path), count)
    return name, (_file_flags(name), st.st_size)


def _encode_item(key: str, value: Entry) -> bytes:
    return json.dumps({key: value}, separators=(",", ":")).encode()[1:-1]


def _count(path: str) -> int:
    try:
        with os.scandir(path) as it:
            return sum(1 for _ in it)
    except OSError:
        return 0


class _Cached:
    __slots__ = ("entries", "json", "mtime_ns")

    def __init__(self, entries: dict[str, Entry], mtime_ns: int) -> None:
        self.entries = entries
        self.mtime_ns = mtime_ns
        self.json: bytes | None = None


class Listings:
    """Per-directory listing cache (LRU, bounded), safe to share between connection threads.

    Parameters
    ----------
    hidden : set of str
        Absolute paths never listed (the server's work directory).
    max_dirs : int
        Directories kept in the cache.
    """

    def __init__(self, *, hidden: set[str], max_dirs: int = 256) -> None:
        self._hidden = hidden
        self._max = max_dirs
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        # Bumped by every change the server makes; a scan that overlapped a change is not cached, because a
        # directory mtime can stay the same across two changes within one clock tick.
        self._changes = 0

    def listing_json(self, path: str) -> bytes:
        """The JSON listing of directory ``path`` (absolute).

        Raises
        ------
        OSError
            The directory cannot be read (missing: ``FileNotFoundError``).
        """
        mtime = os.stat(path).st_mtime_ns
        with self._lock:
            cached = self._cache.get(path)
            if cached is not None and cached.mtime_ns == mtime:
                self._cache.move_to_end(path)
                if cached.json is None:
                    cached.json = json.dumps(cached.entries, separators=(",", ":")).encode()
                return cached.json
        with self._lock:
            changes = self._changes
        entries = self._scan(path)
        fresh = _Cached(entries, mtime)
        fresh.json = json.dumps(entries, separators=(",", ":")).encode()
        with self._lock:
            if changes != self._changes:
                return fresh.json
            self._cache[path] = fresh
            self._cache.move_to_end(path)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return fresh.json

    def _scan(self, path: str) -> dict[str, Entry]:
        entries: dict[str, Entry] = {}
        with os.scandir(path) as it:
            for item in it:
                try:
                    st = item.stat()  # follows symlinks; a dangling one raises and is left out
                except OSError:
                    continue  # vanished or dangling entry: leave it out (S7), never fail the listing
                if stat.S_ISDIR(st.st_mode):
                    if item.path in self._hidden:
                        continue
                    key, value = entry_for(item.path, item.name, st, self._known_count(item.path, st))
                    entries[key] = value
                else:
                    entries[item.name] = (_file_flags(item.name), st.st_size)
        return entries

    def _known_count(self, path: str, st: os.stat_result) -> int | None:
        with self._lock:
            known = self._cache.get(path)
            return len(known.entries) if known is not None and known.mtime_ns == st.st_mtime_ns else None

    def note_entry(self, path: str, *, created: bool = True) -> None:
        """Record that ``path`` (a file or directory) was created (``created``) or grew, updating cached listings.

        The parent directory's entry in its own parent is refreshed too, since its size and flags changed. Its entry
        count is taken from the cache (never by re-reading a possibly huge directory on every write).
        """
        with self._lock:
            self._changes += 1
        parent, name = os.path.split(path)
        self._refresh_entry(parent, name, grew_by=0)
        grand, parent_name = os.path.split(parent)
        if parent_name:
            self._refresh_entry(grand, parent_name, grew_by=1 if created else 0)

    def _refresh_entry(self, parent: str, name: str, *, grew_by: int) -> None:
        with self._lock:
            if parent not in self._cache:
                return
        full = os.path.join(parent, name)
        try:
            st = os.stat(full)
            parent_mtime = os.stat(parent).st_mtime_ns
        except OSError:
            self.forget(parent)
            return
        count = self._known_count(full, st)
        with self._lock:
            cached = self._cache.get(parent)
            if cached is None:
                return
            previous = cached.entries.get(name + "/")
        if count is None and previous is not None:
            count = previous[1] + grew_by
        key, value = entry_for(full, name, st, count)
        with self._lock:
            is_new = key not in cached.entries
            cached.entries[key] = value
            cached.mtime_ns = parent_mtime
            if is_new and cached.json is not None:
                # Appending to the serialised form keeps a listing after each PUT into a huge directory O(copy)
                # instead of O(re-encode).
                sep = b"," if len(cached.entries) > 1 else b""
                cached.json = cached.json[:-1] + sep + _encode_item(key, value) + b"}"
            else:
                cached.json = None

    def forget(self, path: str) -> None:
        """Drop the cached listing of directory ``path``."""
        with self._lock:
            self._changes += 1
            self._cache.pop(path, None)
