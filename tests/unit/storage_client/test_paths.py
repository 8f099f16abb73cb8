"""Cluster paths and PYME-CLUSTER:// URIs (§5)."""

from __future__ import annotations

import pytest

from photonflow.storage import ClusterURI, format_uri, parse_uri
from photonflow.storage.client._paths import normalize_dir, normalize_path, quote_path, split_parent


@pytest.mark.parametrize(
    ("uri", "cluster", "path"),
    [
        ("PYME-CLUSTER://lab/a/b.pcs", "lab", "a/b.pcs"),
        ("pyme-cluster://lab/a/b.pcs/", "lab", "a/b.pcs"),
        ("PYME-CLUSTER:///a/b", "", "a/b"),
        ("PYME-CLUSTER://lab", "lab", ""),
        ("PYME-CLUSTER://lab/__aggregate_h5r/r/x.h5r/FitResults", "lab", "__aggregate_h5r/r/x.h5r/FitResults"),
    ],
)
def test_parse_uri(uri: str, cluster: str, path: str) -> None:
    assert parse_uri(uri) == ClusterURI(cluster, path)


@pytest.mark.parametrize("bad", ["http://x/y", "Pyme-Cluster://lab/a", "/local/file", "PYME-CLUSTER://lab/../etc"])
def test_parse_uri_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_uri(bad)


def test_format_round_trip() -> None:
    assert format_uri("lab", "/a//b/") == "PYME-CLUSTER://lab/a/b"
    assert str(parse_uri("pyme-cluster://lab/x")) == "PYME-CLUSTER://lab/x"


def test_normalize() -> None:
    assert normalize_path("/a/./b//c/") == "a/b/c"
    assert normalize_path("") == ""
    assert normalize_dir("a/b") == "a/b/" and normalize_dir("/") == ""
    assert split_parent("a/b/c") == ("a/b", "c") and split_parent("c") == ("", "c")
    for bad in ("a/../b", "a\\b", "a\x00"):
        with pytest.raises(ValueError):
            normalize_path(bad)


def test_quote_path_is_utf8_percent_encoding() -> None:
    # Raw put_files and put_file encode names identically (§8 C15).
    assert quote_path("enc/a b.txt") == "/enc/a%20b.txt"
    assert quote_path("ü/#?%") == "/%C3%BC/%23%3F%25"
