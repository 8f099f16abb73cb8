"""``photonflow spool`` and ``photonflow series`` end to end, against an in-process data server."""

from __future__ import annotations

import os
import uuid

import numpy as np
import tifffile

from photonflow.cli import main
from photonflow.formats.series import SeriesReader
from photonflow.storage import ClusterClient


def _cluster_args(url: str, cluster: str) -> list[str]:
    return ["--cluster", cluster, "--servers", url, "--config", os.devnull]


def test_spool_tiff_page_by_page_then_describe(dataserver, tmp_path, capsys) -> None:
    cluster = f"spool-{uuid.uuid4().hex[:8]}"  # no other test's registered server can join this cluster
    srv = dataserver(cluster=cluster)
    stack = np.random.default_rng(0).integers(0, 3000, size=(30, 24, 40), dtype=np.uint16)  # (t, y, x)
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    args = _cluster_args(srv.url, cluster)
    assert main(["spool", str(tmp_path / "stack.tif"), "--to", "t/s.pcs", "--chunk-size", "7",
                 "--compression", "blosc2", "--no-progress", *args]) == 0
    out = capsys.readouterr().out
    assert "spooled 30 frames" in out and "MB/s" in out
    with ClusterClient(cluster, servers=[srv.url], registry=False, zeroconf=False) as client:
        series = SeriesReader(client, "t/s.pcs")
        assert len(series) == 30 and series.is_complete and series.shape == (40, 24)  # x first, as PYME
        np.testing.assert_array_equal(series[29], stack[29].T)
        assert series.events[0][0] == "StartAq"
    assert main(["series", f"PYME-CLUSTER://{cluster}/t/s.pcs", *args]) == 0
    out = capsys.readouterr().out
    assert "frames    30" in out and "complete  yes" in out and "shape     40 x 24" in out
    assert "dtype     uint16" in out and f"{srv.url}: 30 frames" in out and "blosc2" in out


def test_spool_simulated_frames_with_progress(dataserver, capsys) -> None:
    cluster = f"spool-{uuid.uuid4().hex[:8]}"
    a, b = dataserver(cluster=cluster), dataserver(cluster=cluster)
    args = ["--cluster", cluster, "--servers", f"{a.url},{b.url}", "--config", os.devnull]
    assert main(["spool", "--simulate", "40", "--shape", "64x48", "--to", "sim/s.pcs", "--chunk-size", "10",
                 *args]) == 0
    captured = capsys.readouterr()
    assert "spooled 40 frames" in captured.out and "frame" in captured.err  # tqdm writes to stderr
    assert main(["series", "sim/s.pcs", *args]) == 0
    out = capsys.readouterr().out
    assert "frames    40" in out and "shape     64 x 48" in out and out.count(": 20 frames") == 2


def test_spool_needs_exactly_one_source(capsys) -> None:
    assert main(["spool", "--to", "x.pcs", "--config", os.devnull, "--cluster", "nobody"]) == 2
    assert "either a TIFF SOURCE or --simulate" in capsys.readouterr().err
