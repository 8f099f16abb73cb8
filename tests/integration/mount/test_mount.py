"""``photonflow mount``: list and read a series through a read-only FUSE mount of two data servers."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from photonflow.formats import pzf
from photonflow.formats.series import SeriesWriter
from photonflow.storage import ClusterClient
from photonflow.storage.server import RunningServer


def _fuse_unusable() -> str | None:
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is not present on this machine (no FUSE kernel module in this container)"
    try:
        import fuse  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"fusepy cannot load libfuse ({exc}); install libfuse2"
    if os.geteuid() != 0 and shutil.which("fusermount") is None:
        return "not root and no fusermount (libfuse2's helper) to mount as a user"
    return None


pytestmark = pytest.mark.skipif(_fuse_unusable() is not None, reason=str(_fuse_unusable()))


def _unmount(path: Path) -> None:
    for cmd in (["fusermount3", "-u", str(path)], ["fusermount", "-u", str(path)], ["umount", str(path)]):
        if shutil.which(cmd[0]) and subprocess.run(cmd, capture_output=True, check=False).returncode == 0:
            return


@pytest.fixture
def mounted(dataserver: Callable[..., RunningServer], tmp_path: Path) -> Iterator[tuple[Path, list[RunningServer]]]:
    servers = [dataserver(cluster="mnt"), dataserver(cluster="mnt")]
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTONFLOW_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "photonflow", "mount", str(mountpoint), "--cluster", "mnt", "--servers",
         ",".join(s.url for s in servers), "--config", os.devnull],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while not os.path.ismount(mountpoint):
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr and proc.poll() is not None else ""
                pytest.fail(f"photonflow mount did not mount: {err}")
            time.sleep(0.1)
        yield mountpoint, servers
    finally:
        _unmount(mountpoint)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.timeout(120)
def test_lists_and_reads_a_series_read_only(mounted: tuple[Path, list[RunningServer]]) -> None:
    mountpoint, servers = mounted
    frames = np.random.default_rng(3).integers(0, 60000, size=(120, 64, 48), dtype=np.uint16)
    with ClusterClient("mnt", servers=[s.url for s in servers], registry=False, zeroconf=False) as client:
        with SeriesWriter(client, "run/cell.pcs", {"voxelsize.x": 0.1}, chunk_size=20) as writer:
            for i, frame in enumerate(frames):
                writer.store_frame(i, frame)
            writer.finalize()
        client.put_file("run/big.bin", big := os.urandom(6 << 20))
    series = mountpoint / "run" / "cell.pcs"
    names = sorted(os.listdir(series))
    assert [n for n in names if n.startswith("frame")] == [f"frame{i:05d}.pzf" for i in range(120)]
    assert "metadata.json" in names and "events.json" in names
    assert sorted(os.listdir(mountpoint / "run")) == ["big.bin", "cell.pcs"]
    for i in (0, 57, 119):
        blob = (series / f"frame{i:05d}.pzf").read_bytes()
        np.testing.assert_array_equal(pzf.decode(blob)[0], frames[i])
    with open(mountpoint / "run" / "big.bin", "rb") as f:  # ranged reads at an offset, across blocks
        f.seek(4_000_000)
        assert f.read(3_000_000) == big[4_000_000:7_000_000]
    assert (mountpoint / "run" / "big.bin").stat().st_size == len(big)
    for attempt in (lambda: (series / "new.txt").write_bytes(b"x"), lambda: os.mkdir(mountpoint / "d"),
                    lambda: os.unlink(series / "metadata.json")):
        with pytest.raises(OSError) as info:
            attempt()
        assert info.value.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    with pytest.raises(FileNotFoundError):
        (mountpoint / "run" / "absent").stat()
