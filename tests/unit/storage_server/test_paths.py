"""Request-target translation and root confinement."""

from __future__ import annotations

import pytest

from photonflow.storage.server._http import HttpError
from photonflow.storage.server._paths import is_inside, parse_target


@pytest.mark.parametrize(
    ("target", "rel", "slash", "query"),
    [
        ("/", "", True, ""),
        ("/a/b/c.txt", "a/b/c.txt", False, ""),
        ("/a/b/", "a/b", True, ""),
        ("/a/../b", "b", False, ""),
        ("/../../etc/hostname", "etc/hostname", False, ""),
        ("/%2e%2e/%2E%2E/x", "x", False, ""),
        ("/enc/a%20b.txt?foo=1#frag", "enc/a b.txt", False, "foo=1"),
        ("/a//b/./c", "a/b/c", False, ""),
        ("http://host:80/a/b?x", "a/b", False, "x"),
        ("/Größe", "Größe", False, ""),
    ],
)
def test_parse_target(target, rel, slash, query):
    parsed = parse_target(target)
    assert (parsed.rel, parsed.trailing_slash, parsed.query) == (rel, slash, query)


def test_status_path_keeps_double_underscore_and_query():
    parsed = parse_target("/__glob?pattern=a/*")
    assert parsed.path == "__glob" and parsed.query == "pattern=a/*"


@pytest.mark.parametrize("target", ["a/b", "/a%00b", "/%ff%fe", "*"])
def test_bad_targets(target):
    with pytest.raises(HttpError) as info:
        parse_target(target)
    assert info.value.status == 400


def test_is_inside_follows_symlinks(tmp_path):
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "out").symlink_to(tmp_path)
    (root / "in").symlink_to(root / "d")
    real = str(root.resolve())
    assert is_inside(real, root / "d")
    assert is_inside(real, root / "in" / "x")
    assert is_inside(real, root)
    assert not is_inside(real, root / "out" / "x")
    assert not is_inside(real, tmp_path / "rootsibling")
