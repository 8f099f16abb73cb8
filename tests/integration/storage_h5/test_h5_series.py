"""Single-file ``.h5`` series through ``__aggregate_h5`` and the ``.h5/`` view (§1.8, §3.5, §9 case 21)."""

from __future__ import annotations

import json

import numpy as np
import tables

from photonflow.formats import pzf
from photonflow.formats.h5series import H5Series, open_series
from photonflow.storage import ClusterClient


def _spool(http, url: str, series: str, frames: list[bytes], *, events=(("StartAq", "0", 1.75e9),)) -> None:
    assert http(url, "PUT", f"/__aggregate_h5/{series}/metadata.json",
                json.dumps({"SizeT": -1, "voxelsize.x": 0.1}).encode())[0] == 200
    for i, blob in enumerate(frames):
        assert http(url, "PUT", f"/__aggregate_h5/{series}/frame{i:05d}.pzf", blob)[0] == 200
    assert http(url, "PUT", f"/__aggregate_h5/{series}/final_metadata.json", b'{"SizeT": 5}')[0] == 200  # ignored
    assert http(url, "PUT", f"/__aggregate_h5/{series}/events.json", json.dumps([list(e) for e in events]).encode(),
                gz=True)[0] == 200


def test_case21_listing_and_frame_numbers(dataserver, http):
    srv = dataserver()
    frames = [pzf.encode(np.full((8, 6), i, np.uint16), frame_num=i) for i in range(5)]
    _spool(http, srv.url, "sp/s.h5", frames)
    status, body = http(srv.url, "GET", "/sp/s.h5/")
    assert status == 200
    assert set(json.loads(body)) == {"metadata.json", "events.json", *(f"frame{i:05d}.pzf" for i in range(5))}
    for i in range(5):
        status, blob = http(srv.url, "GET", f"/sp/s.h5/frame{i:05d}.pzf")
        assert status == 200 and pzf.decode_header(blob).frame_num == i and blob == frames[i]
    assert json.loads(http(srv.url, "GET", "/sp/s.h5/metadata.json")[1]) == {"SizeT": -1, "voxelsize.x": 0.1}
    assert json.loads(http(srv.url, "GET", "/sp/s.h5/events.json")[1]) == [["StartAq", "0", 1.75e9]]
    assert json.loads(http(srv.url, "GET", "/sp/")[1])["s.h5"][0] == 6  # a complete series, as PYME lists it
    for missing in ("/sp/s.h5/frame00005.pzf", "/sp/s.h5/other.txt", "/sp/none.h5/", "/sp/none.h5/metadata.json"):
        assert http(srv.url, "GET", missing)[0] == 404, missing
    with tables.open_file(str(srv.root / "sp" / "s.h5")) as f:  # PYME's layout, read by PyTables alone
        assert f.root.PZFImageIndex.col("FrameNum").tolist() == list(range(5))
        assert bytes(f.root.PZFImageData[3]) == frames[3]


def test_series_written_through_the_endpoint_reads_back_bit_exactly(dataserver, http):
    srv = dataserver(fsync=True)
    rng = np.random.default_rng(7)
    data = [rng.integers(0, 4000, (32, 24), dtype=np.uint16) for _ in range(12)]
    frames = [pzf.encode(f, frame_num=i, compression="huffman" if i % 2 else "raw") for i, f in enumerate(data)]
    _spool(http, srv.url, "run/cell.h5", frames)
    with ClusterClient("test", servers=[srv.url], zeroconf=False, registry=False, local_reads=False) as client:
        series = open_series(client, "run/cell.h5")
        assert len(series) == 12 and series.is_complete and series.shape == (32, 24)
        assert series.metadata["voxelsize.x"] == 0.1
        assert series.events == [("StartAq", "0", 1.75e9)]
        for i in range(12):
            np.testing.assert_array_equal(series[i], data[i])
        np.testing.assert_array_equal(series.read_frames(3, 9), np.stack(data[3:9]))
    with H5Series(srv.root / "run" / "cell.h5") as local:
        assert local.frame_numbers() == list(range(12))
        np.testing.assert_array_equal(local.frame(11), data[11])


def test_resent_frames_and_bad_components(dataserver, http):
    srv = dataserver()
    blob = pzf.encode(np.arange(12, dtype=np.uint16).reshape(4, 3), frame_num=0)
    assert http(srv.url, "PUT", "/__aggregate_h5/d/x.h5/frame00000.pzf", blob)[0] == 200
    assert http(srv.url, "PUT", "/__aggregate_h5/d/x.h5/frame00000.pzf", blob)[0] == 200  # re-sent: a no-op
    other = pzf.encode(np.zeros((4, 3), np.uint16), frame_num=0)
    assert http(srv.url, "PUT", "/__aggregate_h5/d/x.h5/frame00000.pzf", other)[0] == 400
    assert http(srv.url, "PUT", "/__aggregate_h5/d/x.h5/frame00001.pzf", b"not a pzf frame")[0] == 400
    assert http(srv.url, "PUT", "/__aggregate_h5/d/x.h5/frame00001.pzf", blob[:-3])[0] == 400  # truncated
    assert http(srv.url, "PUT", "/__aggregate_h5/d/x.h5/events.json", b'{"a": 1}')[0] == 400
    assert http(srv.url, "PUT", "/__aggregate_h5/d/x.h5/metadata.json", b"nope")[0] == 400
    assert http(srv.url, "PUT", "/__aggregate_h5/d/x.h5", b"{}")[0] == 400
    assert http(srv.url, "PUT", "/__aggregate_h5/d/x.h5/a/b", b"{}")[0] == 400
    with H5Series(srv.root / "d" / "x.h5") as series:
        assert series.frame_numbers() == [0] and series.frame_blob(0) == blob


def test_six_digit_frame_numbers(dataserver, http):
    srv = dataserver()
    blob = pzf.encode(np.ones((2, 2), np.uint8), frame_num=123456)
    assert http(srv.url, "PUT", "/__aggregate_h5/big/y.h5/frame123456.pzf", blob)[0] == 200
    assert "frame123456.pzf" in json.loads(http(srv.url, "GET", "/big/y.h5/")[1])
    assert http(srv.url, "GET", "/big/y.h5/frame123456.pzf") == (200, blob)
