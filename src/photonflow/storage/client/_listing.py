"""Directory listings: parsing a server's JSON and merging the listings of several servers (§1.4, §4.3)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from photonflow.errors import ProtocolError

__all__ = [
    "DIRECTORY",
    "SERIES",
    "SERIES_COMPLETE",
    "DirectoryListing",
    "Entry",
    "merge_listings",
    "parse_listing",
]

DIRECTORY = 0x01
SERIES = 0x02
SERIES_COMPLETE = 0x04


class Entry(NamedTuple):
    """One listed name: PYME flag bits and size (bytes for files, entry count for directories)."""

    type: int
    size: int

    @property
    def is_dir(self) -> bool:
        """Directory, by the flag bits (PYME servers may drop 0x01 on series, so any bit counts)."""
        return self.type > 0


def parse_listing(body: bytes, *, server: str, path: str) -> dict[str, Entry]:
    """Parse one server's listing body ``{"name": [type, size], ...}``.

    Sizes that PYME truncated to 32 bits stay as sent (they only make ``size`` approximate); directory keys keep
    their trailing ``/``.

    Raises
    ------
    ProtocolError
        The body is not a JSON object of ``[int, int]`` pairs.
    """
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"{server} sent a listing of /{path} that is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ProtocolError(f"{server} sent a listing of /{path} that is not a JSON object")
    entries: dict[str, Entry] = {}
    for name, value in raw.items():
        try:
            kind, size = value
            entries[name] = Entry(int(kind), int(size))
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"{server} listed {name!r} in /{path} as {value!r}, not [type, size]") from exc
    return entries


def merge_listings(listings: Iterable[Mapping[str, Entry]]) -> dict[str, Entry]:
    """Union of per-server listings of one directory (PYME's rule, §4.3).

    Types are OR-ed. A name that is a directory anywhere gets the *sum* of its entry counts; a file keeps the
    largest size seen (copies are identical under write-once; the largest is the most advanced of a growing
    aggregate file). A name listed as ``x/`` on one server and ``x`` on another stays two names.
    """
    merged: dict[str, Entry] = {}
    for listing in listings:
        for name, entry in listing.items():
            previous = merged.get(name)
            if previous is None:
                merged[name] = entry
                continue
            kind = previous.type | entry.type
            if kind & DIRECTORY or name.endswith("/"):
                merged[name] = Entry(kind, previous.size + entry.size)
            else:
                merged[name] = Entry(kind, max(previous.size, entry.size))
    return merged


@dataclass(frozen=True, slots=True)
class DirectoryListing(Mapping[str, Entry]):
    """A merged directory listing, plus which servers could not be asked.

    Behaves as a read-only ``dict`` of name → :class:`Entry` (directories end in ``/``).

    Attributes
    ----------
    path : str
        The directory, cluster-relative.
    entries : dict
        The merged entries.
    locations : dict
        name → tuple of server URLs listing it.
    unavailable : tuple of str
        Servers that did not answer; the listing may lack their files.
    """

    path: str
    entries: Mapping[str, Entry]
    locations: Mapping[str, tuple[str, ...]]
    unavailable: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Every server answered."""
        return not self.unavailable

    def __getitem__(self, name: str) -> Entry:
        return self.entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)
