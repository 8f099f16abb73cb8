"""Parsing and merging listings (§1.4, §4.3)."""

from __future__ import annotations

import pytest

from photonflow.errors import ProtocolError
from photonflow.storage.client import DirectoryListing, Entry, merge_listings, parse_listing


def test_parse_pyme_listing_with_escaped_slash_and_truncated_size() -> None:
    body = b'{"b\\/":[1,2],"series_B.h5":[6,1072466],"big":[0,-1073741824],"\\u00fc.txt":[0,3]}'
    entries = parse_listing(body, server="http://s:1", path="a/")
    assert entries == {
        "b/": Entry(1, 2),
        "series_B.h5": Entry(6, 1072466),
        "big": Entry(0, -1073741824),
        "ü.txt": Entry(0, 3),
    }
    assert entries["b/"].is_dir and not entries["ü.txt"].is_dir


@pytest.mark.parametrize("body", [b"[1,2]", b"not json", b'{"a": 3}', b'{"a": [1]}'])
def test_bad_listing_is_a_protocol_error_naming_the_server(body: bytes) -> None:
    with pytest.raises(ProtocolError, match="http://s:1"):
        parse_listing(body, server="http://s:1", path="a/")


def test_merge_ors_types_sums_directories_and_keeps_largest_file() -> None:
    merged = merge_listings(
        [
            {"d/": Entry(1, 3), "s.pcs/": Entry(3, 10), "f": Entry(0, 5), "log": Entry(0, 10)},
            {"d/": Entry(1, 4), "s.pcs/": Entry(2 | 4, 2), "f": Entry(0, 5), "log": Entry(0, 12), "g": Entry(0, 1)},
        ]
    )
    assert merged == {
        "d/": Entry(1, 7),
        "s.pcs/": Entry(7, 12),
        "f": Entry(0, 5),
        "log": Entry(0, 12),
        "g": Entry(0, 1),
    }


def test_merge_keeps_file_and_directory_of_one_name_apart() -> None:
    assert merge_listings([{"x": Entry(0, 1)}, {"x/": Entry(1, 1)}]) == {"x": Entry(0, 1), "x/": Entry(1, 1)}


def test_directory_listing_is_a_mapping_reporting_unavailable_servers() -> None:
    listing = DirectoryListing("a", {"f": Entry(0, 1)}, {"f": ("http://s:1",)}, unavailable=("http://s:2",))
    assert dict(listing) == {"f": Entry(0, 1)} and len(listing) == 1
    assert not listing.complete
    assert DirectoryListing("a", {}, {}).complete
