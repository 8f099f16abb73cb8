"""Temporary files, exclusive publication and orphan cleanup."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from photonflow.storage.server._writeonce import WorkDir


def test_publish_is_exclusive_and_leaves_no_temp(tmp_path):
    work = WorkDir(str(tmp_path / ".work"))
    first = work.new_temp(fsync=True)
    first.write(b"first")
    first.publish(str(tmp_path / "f"))
    second = work.new_temp(fsync=False)
    second.write(b"second")
    with pytest.raises(FileExistsError):
        second.publish(str(tmp_path / "f"))
    assert (tmp_path / "f").read_bytes() == b"first"
    assert os.listdir(work.path) == []
    assert os.stat(tmp_path / "f").st_mode & 0o222 == 0  # published read-only: write-once


def test_discard_on_error(tmp_path):
    work = WorkDir(str(tmp_path / ".work"))
    with pytest.raises(RuntimeError), work.new_temp(fsync=False) as tmp:
        tmp.write(b"partial")
        raise RuntimeError("client went away")
    assert os.listdir(work.path) == []


def test_remove_orphans_keeps_live_processes_files(tmp_path):
    work_path = tmp_path / ".work"
    work_path.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (work_path / f"{dead_pid}-0").write_bytes(b"orphan")
    (work_path / "junk").write_bytes(b"unknown")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (work_path / f"{live.pid}-3").write_bytes(b"in progress elsewhere")
        assert WorkDir(str(work_path)).remove_orphans() == 2
        assert os.listdir(work_path) == [f"{live.pid}-3"]
    finally:
        live.kill()
        live.wait()


@pytest.mark.parametrize("anonymous", [True, False])
def test_both_temp_kinds_publish_atomically(tmp_path, anonymous):
    work = WorkDir(str(tmp_path / ".work"), anonymous=anonymous)  # also the fallback for file systems without it
    tmp = work.new_temp(fsync=False)
    tmp.write(b"abc")
    assert not (tmp_path / "f").exists()
    tmp.publish(str(tmp_path / "f"))
    assert (tmp_path / "f").read_bytes() == b"abc"
    assert os.listdir(work.path) == []
