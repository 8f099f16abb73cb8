"""The local short-circuit's real-path check (§8 C13) and the HTTP status → error table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from photonflow import errors
from photonflow.storage.client._http import error_for_status
from photonflow.storage.client._local import local_file


def test_local_file_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    (root / "a" / "f.txt").write_text("x")
    assert local_file(root, "a/f.txt") == (root / "a" / "f.txt").resolve()
    assert local_file(root, "a") is None  # a directory is not a file
    assert local_file(root, "a/missing") is None


def test_local_file_refuses_escapes(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    sibling = tmp_path / "data2"
    sibling.mkdir()
    (sibling / "secret").write_text("s")
    (tmp_path / "outside").write_text("o")
    os.symlink(tmp_path / "outside", root / "link")
    assert local_file(root, "../data2/secret") is None  # string-prefix test would accept this
    assert local_file(root, "link") is None  # symlink out of the root
    assert local_file(root, "/etc/hostname") is None  # an absolute path must not replace the root


def test_local_file_through_symlinked_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "f").write_text("x")
    os.symlink(real, tmp_path / "alias")
    assert local_file(tmp_path / "alias", "f") == (real / "f").resolve()


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (404, errors.NotFoundError),
        (405, errors.AlreadyExistsError),
        (409, errors.AlreadyExistsError),
        (507, errors.InsufficientStorageError),
        (401, errors.AccessDeniedError),
        (403, errors.AccessDeniedError),
        (500, errors.ProtocolError),
    ],
)
def test_status_mapping_names_server_and_path(status: int, kind: type[Exception]) -> None:
    error = error_for_status(status, server="http://h:1", path="a/b.txt")
    assert type(error) is kind
    assert "http://h:1" in str(error) and "a/b.txt" in str(error)
    assert isinstance(error, OSError)
