"""§9 case 24 without pacing: a burst of frames to two server processes arrives whole, in order, events.json last;
and the same with one server SIGKILLed and restarted mid-series."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from photonflow.errors import AlreadyExistsError
from photonflow.formats import pzf
from photonflow.formats.series import SeriesReader, SeriesWriter, frame_name
from photonflow.storage import ClusterClient

N_FRAMES = 2000
CHUNK = 50


def _mtimes(root: Path, series: str) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (root / series).iterdir()}


def _assert_arrival_order(roots: list[Path], series: str, n: int) -> None:
    """Per server, frames landed in index order; metadata.json before every frame, events.json after all."""
    all_frames: list[int] = []
    first_frame = None
    events = None
    for root in roots:
        times = _mtimes(root, series)
        frames = sorted((int(name[5:-4]), t) for name, t in times.items() if name.endswith(".pzf"))
        assert [t for _, t in frames] == sorted(t for _, t in frames), f"frames out of order on {root}"
        all_frames += [t for _, t in frames]
        if "metadata.json" in times:
            first_frame = times["metadata.json"]
        if "events.json" in times:
            events = times["events.json"]
    assert len(all_frames) == n
    assert first_frame is not None and first_frame <= min(all_frames)
    assert events is not None and events >= max(all_frames)


def test_burst_to_two_servers_arrives_whole_in_order_events_last(dataserver_process, make_frames) -> None:
    a, b = dataserver_process(), dataserver_process()
    frames = make_frames(N_FRAMES)
    with ClusterClient("test", servers=[a.url, b.url], registry=False, zeroconf=False) as client:
        t0 = time.time()
        with SeriesWriter(client, "sp/s.pcs", {"voxelsize.x": 0.1}, chunk_size=CHUNK) as writer:
            for i, frame in enumerate(frames):
                writer.store_frame(i, frame)  # no pacing
            report = writer.finalize([("StartAq", "0", t0)])
        assert report.complete and report.frames == N_FRAMES and report.resent == ()
        assert report.frames_per_server == {a.url: N_FRAMES // 2, b.url: N_FRAMES // 2}

        names = client.listdir("sp/s.pcs")
        assert sum(n.endswith(".pzf") for n in names) == N_FRAMES
        assert {"metadata.json", "final_metadata.json", "events.json"} <= set(names)
        # Block k of CHUNK frames is on server k mod 2 (data locality).
        on_a = {p.name for p in (a.root / "sp/s.pcs").iterdir()}
        assert frame_name(0) in on_a and frame_name(CHUNK - 1) in on_a and frame_name(CHUNK) not in on_a
        _assert_arrival_order([a.root, b.root], "sp/s.pcs", N_FRAMES)

        series = SeriesReader(client, "PYME-CLUSTER://test/sp/s.pcs")
        assert len(series) == N_FRAMES and series.is_complete
        assert series.shape == (64, 64) and series.dtype == np.uint16
        assert series.events == [("StartAq", "0", pytest.approx(t0))]
        assert series.metadata["voxelsize.x"] == 0.1 and series.metadata["SizeT"] == -1
        assert series.servers == {a.url: N_FRAMES // 2, b.url: N_FRAMES // 2}
        np.testing.assert_array_equal(series.to_dask().compute(), frames)
        assert series.to_dask().chunks[0] == (CHUNK,) * (N_FRAMES // CHUNK)


def test_server_killed_and_restarted_mid_series_loses_nothing(dataserver_process, make_frames) -> None:
    a, b = dataserver_process(), dataserver_process()
    frames = make_frames(N_FRAMES, seed=1)
    restarted = []
    with ClusterClient("test", servers=[a.url, b.url], registry=False, zeroconf=False) as client:
        writer = SeriesWriter(client, "sp/k.pcs", {}, chunk_size=CHUNK, retry_timeout_s=60)

        def kill_and_restart() -> None:
            while writer.frames_stored < 700:
                time.sleep(0.005)
            b.kill()
            time.sleep(0.5)
            restarted.append(dataserver_process(b.root, args=["--port", str(b.port)]))

        chaos = threading.Thread(target=kill_and_restart, daemon=True)
        chaos.start()
        for i, frame in enumerate(frames):
            writer.store_frame(i, frame)
        report = writer.finalize([])
        chaos.join(timeout=30)
        assert restarted, "the server was not restarted"
        assert report.complete and report.frames == N_FRAMES
        assert report.reconnects >= 1 and len(report.resent) >= 1  # the writer says what it had to send again
        assert all(path.startswith("sp/k.pcs/frame") for path in report.resent)

        series = SeriesReader(client, "sp/k.pcs")
        assert len(series) == N_FRAMES and series.is_complete
        for i in range(N_FRAMES):
            np.testing.assert_array_equal(series[i], frames[i])
        stored = sorted(p.name for root in (a.root, b.root) for p in (root / "sp/k.pcs").iterdir())
        assert len(stored) == len(set(stored)) == N_FRAMES + 3  # no duplicates across servers
        events_time = max((root / "sp/k.pcs/events.json").stat().st_mtime_ns
                          for root in (a.root, b.root) if (root / "sp/k.pcs/events.json").exists())
        assert events_time >= max(p.stat().st_mtime_ns for root in (a.root, b.root)
                                  for p in (root / "sp/k.pcs").glob("*.pzf"))


@pytest.mark.parametrize("compression", ["huffman", "blosc2", "raw"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_frames_read_back_bit_exactly(dataserver, compression, dtype) -> None:
    srv = dataserver()
    rng = np.random.default_rng(7)
    frames = (rng.random((7, 33, 20)) * 200).astype(dtype)
    frames[3] = frames[3].T.reshape(33, 20)  # odd content; shapes stay equal
    with ClusterClient("test", servers=[srv.url], registry=False, zeroconf=False) as client:
        with SeriesWriter(client, f"rt/{compression}-{np.dtype(dtype).name}.pcs", {}, chunk_size=3,
                          compression=compression) as writer:
            for i, frame in enumerate(frames):
                writer.store_frame(i, np.asfortranarray(frame) if i == 5 else frame)
        series = SeriesReader(client, writer.path)
        assert series.is_complete and len(series) == 7
        for i in range(7):
            assert series[i].dtype == dtype
            np.testing.assert_array_equal(series[i], frames[i])
        np.testing.assert_array_equal(series[1:4], frames[1:4])
        np.testing.assert_array_equal(series[-1], frames[-1])


def test_quantized_frames_decode_as_pyme_defines(dataserver) -> None:
    srv = dataserver()
    frame = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 3000) + 100
    with ClusterClient("test", servers=[srv.url], registry=False, zeroconf=False) as client:
        with SeriesWriter(client, "q/s.pcs", {}, quantization=(100.0, 0.5)) as writer:
            writer.store_frame(0, frame)
        got = SeriesReader(client, "q/s.pcs")[0]
    expected, _ = pzf.decode(pzf.encode(frame, quantization=(100.0, 0.5)))
    np.testing.assert_array_equal(got, expected)


def test_exception_leaves_series_visibly_incomplete(dataserver, make_frames) -> None:
    srv = dataserver()
    frames = make_frames(30)
    with ClusterClient("test", servers=[srv.url], registry=False, zeroconf=False) as client:
        with pytest.raises(RuntimeError) as info, SeriesWriter(client, "x/broken.pcs", {}) as writer:
            for i in range(20):
                writer.store_frame(i, frames[i])
            raise RuntimeError("camera fell over")
        assert any("INCOMPLETE" in note and "20 frames stored" in note for note in info.value.__notes__)
        assert writer.report is not None and not writer.report.complete
        names = client.listdir("x/broken.pcs")
        assert "events.json" not in names and "final_metadata.json" not in names
        series = SeriesReader(client, "x/broken.pcs")
        assert len(series) == 20 and not series.is_complete and series.events == []
        with pytest.raises(AlreadyExistsError):
            SeriesWriter(client, "x/broken.pcs", {})


def test_gap_in_frame_indices_is_refused_at_finalize(dataserver, make_frames) -> None:
    srv = dataserver()
    frames = make_frames(3)
    with ClusterClient("test", servers=[srv.url], registry=False, zeroconf=False) as client:
        writer = SeriesWriter(client, "g/s.pcs", {})
        writer.store_frame(0, frames[0])
        writer.store_frame(2, frames[2])
        with pytest.raises(ValueError, match=r"lacks frames \[1\]"):
            writer.finalize()
        assert "events.json" not in client.listdir("g/s.pcs")
        with pytest.raises(ValueError, match="already stored"):
            SeriesWriter(client, "g/t.pcs", {}).store_frame(-1, frames[0])


def test_reader_follows_a_growing_series(dataserver, make_frames) -> None:
    srv = dataserver()
    frames = make_frames(120)
    with ClusterClient("test", servers=[srv.url], registry=False, zeroconf=False) as client:
        writer = SeriesWriter(client, "live/s.pcs", {}, chunk_size=10)
        series = SeriesReader(client, "live/s.pcs")
        assert len(series) == 0 and not series.is_complete
        for i in range(60):
            writer.store_frame(i, frames[i])
        writer.flush()
        assert series.wait_for(60, timeout_s=10) and len(series) == 60
        np.testing.assert_array_equal(series[59], frames[59])
        for i in range(60, 120):
            writer.store_frame(i, frames[i])
        writer.finalize([("StopAq", "", 1.0)])
        assert series.wait_for(1000, timeout_s=10) is False  # completes at 120 and stops waiting
        assert series.is_complete and len(series) == 120


def test_reads_a_series_laid_out_by_pyme(dataserver) -> None:
    """PYME's layout: Huffman PZF with SequenceID 0, metadata.json / events.json as PYMEAcquire writes them."""
    srv = dataserver()
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 4000, size=(12, 16, 24), dtype=np.uint16)
    md = {"imageID": 0, "DimOrder": "XYCZT", "SizeC": 1, "SizeT": -1, "SizeZ": 1, "voxelsize.x": 0.107,
          "Camera.ADOffset": 100.0}
    root = Path(srv.root) / "pyme" / "s_A.pcs"
    root.mkdir(parents=True)
    (root / "metadata.json").write_text(json.dumps(md, indent=2, sort_keys=True))
    for i, frame in enumerate(frames):
        (root / f"frame{i:05d}.pzf").write_bytes(pzf.encode(frame, compression="huffman", frame_num=i))
    (root / "final_metadata.json").write_text(json.dumps(md, indent=2, sort_keys=True))
    (root / "events.json").write_text(json.dumps([["StartAq", "0", 1.75e9], ["ProtocolTask", "x", 1.75e9 + 1]]))
    with ClusterClient("test", servers=[srv.url], registry=False, zeroconf=False) as client:
        series = SeriesReader(client, "PYME-CLUSTER://test/pyme/s_A.pcs")
        assert len(series) == 12 and series.is_complete and series.shape == (16, 24)
        assert series.events[1] == ("ProtocolTask", "x", 1.75e9 + 1)
        np.testing.assert_array_equal(series.to_dask(chunk_size=5).compute(), frames)
