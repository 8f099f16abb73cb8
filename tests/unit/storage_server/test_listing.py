"""Listing flags (one rule) and the cache's exactness across writes."""

from __future__ import annotations

import json
import os

from photonflow.storage.server._listing import Listings, flags_for_dir


def _listing(listings, path):
    return json.loads(listings.listing_json(str(path)))


def test_one_flag_rule(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "spooling.pcs").mkdir()
    (tmp_path / "spooling.pcs" / "metadata.json").write_text("{}")
    (tmp_path / "done.pcs").mkdir()
    for name in ("metadata.json", "events.json", "frame00000.pzf"):
        (tmp_path / "done.pcs" / name).write_text("x")
    (tmp_path / "single.h5").write_bytes(b"12345")
    (tmp_path / "f.txt").write_bytes(b"abc")
    assert flags_for_dir(str(tmp_path / "done.pcs")) == 7
    assert _listing(Listings(hidden=set()), tmp_path) == {
        "plain/": [1, 0],
        "spooling.pcs/": [3, 1],
        "done.pcs/": [7, 3],
        "single.h5": [6, 5],
        "f.txt": [0, 3],
    }


def test_hidden_directory_not_listed(tmp_path):
    (tmp_path / ".work").mkdir()
    (tmp_path / ".other").mkdir()
    assert _listing(Listings(hidden={str(tmp_path / ".work")}), tmp_path) == {".other/": [1, 0]}


def test_noted_writes_update_cached_listings_exactly(tmp_path):
    listings = Listings(hidden=set())
    series = tmp_path / "s.pcs"
    series.mkdir()
    assert _listing(listings, tmp_path) == {"s.pcs/": [1, 0]}
    assert _listing(listings, series) == {}
    for i, name in enumerate(["metadata.json", "frame00000.pzf", "events.json"]):
        (series / name).write_bytes(b"x" * (i + 1))
        listings.note_entry(str(series / name))
        # the incremental result must equal a fresh scan
        assert _listing(listings, series) == _listing(Listings(hidden=set()), series)
        assert _listing(listings, tmp_path) == _listing(Listings(hidden=set()), tmp_path)
    assert _listing(listings, tmp_path) == {"s.pcs/": [7, 3]}


def test_grown_file_size_updated(tmp_path):
    listings = Listings(hidden=set())
    log = tmp_path / "x.log"
    log.write_bytes(b"line1\n")
    assert _listing(listings, tmp_path) == {"x.log": [0, 6]}
    with open(log, "ab") as f:
        f.write(b"line2\n")
    listings.note_entry(str(log))
    assert _listing(listings, tmp_path) == {"x.log": [0, 12]}


def test_external_change_seen_through_mtime(tmp_path):
    listings = Listings(hidden=set())
    assert _listing(listings, tmp_path) == {}
    (tmp_path / "new").write_bytes(b"1")
    os.utime(tmp_path, ns=(0, os.stat(tmp_path).st_mtime_ns + 1_000_000))  # guard against coarse clock ticks
    assert _listing(listings, tmp_path) == {"new": [0, 1]}


def test_cache_is_bounded(tmp_path):
    listings = Listings(hidden=set(), max_dirs=3)
    for i in range(10):
        (tmp_path / f"d{i}").mkdir()
        listings.listing_json(str(tmp_path / f"d{i}"))
    assert len(listings._cache) == 3


def test_parent_count_tracked_without_rescanning(tmp_path, monkeypatch):
    import photonflow.storage.server._listing as listing_module

    listings = Listings(hidden=set())
    series = tmp_path / "s.pcs"
    series.mkdir()
    (series / "frame0").write_bytes(b"0")
    assert _listing(listings, tmp_path) == {"s.pcs/": [1, 1]}

    def no_scan(path):
        raise AssertionError("a write must not re-read the whole directory")

    monkeypatch.setattr(listing_module, "_count", no_scan)
    for i in range(1, 4):
        (series / f"frame{i}").write_bytes(b"0")
        listings.note_entry(str(series / f"frame{i}"))
    listings.note_entry(str(series / "frame3"), created=False)  # grew, not new
    assert _listing(listings, tmp_path) == {"s.pcs/": [1, 4]}
