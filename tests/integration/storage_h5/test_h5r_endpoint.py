"""``__aggregate_h5r`` appends and ``.h5r`` table views against a real data server (§1.9, §1.10, §9 case 20)."""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import subprocess
import threading

import h5py
import numpy as np
import pytest
import tables

from photonflow.formats.bodies import restricted_unpickle

REC = np.dtype([("a", "<f4"), ("b", "<f4")])


def _load(body: bytes) -> np.ndarray:
    return np.load(io.BytesIO(body), allow_pickle=False)


def test_case20_pickled_fitresults_gzip_metadata_and_views(dataserver, http):
    srv = dataserver(allow_pickle=True)
    assert http(srv.url, "PUT", "/__aggregate_h5r/r/x.h5r/MetaData", b'{"voxelsize.x":0.1}', gz=True) == (200, b"")
    rows = np.ones(10, REC)
    for _ in range(3):
        assert http(srv.url, "PUT", "/__aggregate_h5r/r/x.h5r/FitResults", pickle.dumps(rows, protocol=2),
                    gz=True)[0] == 200
    status, body = http(srv.url, "GET", "/r/x.h5r/FitResults.json?from=0&to=3")
    assert status == 200
    assert json.loads(body) == {"a": {"0": 1.0, "1": 1.0, "2": 1.0}, "b": {"0": 1.0, "1": 1.0, "2": 1.0}}
    status, body = http(srv.url, "GET", "/r/x.h5r/FitResults.npy?from=25")
    assert status == 200 and _load(body).shape == (5,)
    assert json.loads(http(srv.url, "GET", "/r/x.h5r/Metadata.json")[1]) == {"voxelsize.x": 0.1}
    status, body = http(srv.url, "GET", "/r/x.h5r")
    assert status == 200 and body[:8] == b"\x89HDF\r\n\x1a\n"
    # PyTables and h5py read the file on their own (no photonflow code involved).
    with tables.open_file(str(srv.root / "r" / "x.h5r")) as f:
        assert f.root.FitResults.nrows == 30
        assert f.root.MetaData.voxelsize._v_attrs["x"] == pytest.approx(0.1)
    with h5py.File(srv.root / "r" / "x.h5r", "r") as f:
        np.testing.assert_array_equal(f["FitResults"]["a"], np.ones(30, "f4"))
    assert json.loads(http(srv.url, "GET", "/r/")[1])["x.h5r"][0] == 0


def test_views_return_exactly_the_appended_rows(dataserver, http, to_npy):
    srv = dataserver()
    batches = []
    for k in range(4):
        recs = np.zeros(13, [("t", "<i4"), ("x", "<f8"), ("name", "S8")])
        recs["t"] = np.arange(13) + 13 * k
        recs["x"] = np.random.default_rng(k).normal(size=13)
        recs["name"] = [f"n{i}".encode() for i in range(13)]
        batches.append(recs)
        assert http(srv.url, "PUT", "/__aggregate_h5r/res/y.h5r/FitResults", to_npy(recs)) == (200, b"")
    everything = np.concatenate(batches)
    for lo, hi in [(None, None), (0, 5), (10, 30), (50, None), (None, 7), (51, 60), (-3, None), (40, 20)]:
        query = "&".join(f"{k}={v}" for k, v in (("from", lo), ("to", hi)) if v is not None)
        got = _load(http(srv.url, "GET", f"/res/y.h5r/FitResults.npy?{query}")[1])
        np.testing.assert_array_equal(got, everything[slice(lo, hi)])
    pickled = http(srv.url, "GET", "/res/y.h5r/FitResults?from=2&to=4")[1]  # PYME's default: a pickle
    np.testing.assert_array_equal(restricted_unpickle(pickled), everything[2:4])
    text = http(srv.url, "GET", "/res/y.h5r/FitResults.csv?from=1&to=3")[1].decode()
    assert list(csv.reader(io.StringIO(text))) == [["t", "x", "name"],
                                                   ["1", repr(float(everything["x"][1])), "n1"],
                                                   ["2", repr(float(everything["x"][2])), "n2"]]
    doc = json.loads(http(srv.url, "GET", "/res/y.h5r/FitResults.json?from=50")[1])
    assert doc["t"] == {"0": 50, "1": 51} and doc["name"] == {"0": "n11", "1": "n12"}
    assert json.loads(http(srv.url, "GET", "/res/y.h5r/")[1]) == {"FitResults": [0, 52]}


def test_missing_table_is_empty_missing_file_is_404_bad_queries_400(dataserver, http, to_npy):
    srv = dataserver()
    http(srv.url, "PUT", "/__aggregate_h5r/m/z.h5r/FitResults", to_npy(np.ones(2, REC)))
    assert http(srv.url, "GET", "/m/z.h5r/Drift.json") == (200, b"{}")
    assert _load(http(srv.url, "GET", "/m/z.h5r/Drift.npy")[1]).shape == (0,)
    assert http(srv.url, "GET", "/m/nope.h5r/FitResults.json")[0] == 404
    assert http(srv.url, "GET", "/m/nope.h5r/")[0] == 404
    assert http(srv.url, "GET", "/m/z.h5r/FitResults.npy?from=x")[0] == 400
    assert http(srv.url, "GET", "/m/z.h5r/FitResults.xls")[0] == 400
    assert http(srv.url, "GET", "/m/z.h5r/a/b")[0] == 404


def test_nested_columns_flattened_and_nan_as_null(dataserver, http, to_npy):
    srv = dataserver()
    dtype = np.dtype([("tIndex", "<i4"), ("fitResults", [("x0", "<f4"), ("y0", "<f4")])])
    recs = np.zeros(2, dtype)
    recs["fitResults"]["x0"] = [1.5, np.nan]
    assert http(srv.url, "PUT", "/__aggregate_h5r/n/f.h5r/FitResults", to_npy(recs))[0] == 200
    doc = json.loads(http(srv.url, "GET", "/n/f.h5r/FitResults.json")[1])
    assert doc == {"tIndex": {"0": 0, "1": 0}, "fitResults_x0": {"0": 1.5, "1": None},
                   "fitResults_y0": {"0": 0.0, "1": 0.0}}
    assert _load(http(srv.url, "GET", "/n/f.h5r/FitResults.npy")[1]).tobytes() == recs.tobytes()


def test_json_record_bodies(dataserver, http):
    srv = dataserver()
    body = json.dumps([{"a": 1.5, "b": 2}, {"a": 2.5, "b": 3}]).encode()
    assert http(srv.url, "PUT", "/__aggregate_h5r/j/r.h5r/Table1", body)[0] == 200
    body = json.dumps({"a": {"0": 3.5}, "b": {"0": 4}}).encode()  # pandas' orientation
    assert http(srv.url, "PUT", "/__aggregate_h5r/j/r.h5r/Table1", body)[0] == 200
    got = _load(http(srv.url, "GET", "/j/r.h5r/Table1.npy")[1])
    assert got["a"].tolist() == [1.5, 2.5, 3.5] and got["b"].tolist() == [2, 3, 4]


def test_wrong_column_set_is_400_and_changes_nothing(dataserver, http, to_npy):
    srv = dataserver()
    assert http(srv.url, "PUT", "/__aggregate_h5r/w/c.h5r/FitResults", to_npy(np.ones(4, REC)))[0] == 200
    other = np.ones(3, [("a", "<f4"), ("c", "<f4")])
    status, body = http(srv.url, "PUT", "/__aggregate_h5r/w/c.h5r/FitResults", to_npy(other))
    assert status == 400 and b"columns" in body
    assert http(srv.url, "PUT", "/__aggregate_h5r/w/c.h5r/FitResults", to_npy(np.ones(3, [("a", "<f4")])))[0] == 400
    assert http(srv.url, "PUT", "/__aggregate_h5r/w/c.h5r/FitResults", b"not json, not npy")[0] == 400
    assert http(srv.url, "PUT", "/__aggregate_h5r/w/c.h5r/FitResults", to_npy(np.arange(3)))[0] == 400
    assert http(srv.url, "PUT", "/__aggregate_h5r/w/c.h5r/bad-name", to_npy(np.ones(1, REC)))[0] == 400
    assert http(srv.url, "PUT", "/__aggregate_h5r/w/c.h5r", to_npy(np.ones(1, REC)))[0] == 400  # legacy fitResult
    assert http(srv.url, "PUT", "/__aggregate_h5r/w/plain/FitResults", to_npy(np.ones(1, REC)))[0] == 400
    assert http(srv.url, "PUT", "/__aggregate_h5r/w/c.h5r/MetaData", b"[1, 2]")[0] == 400
    assert _load(http(srv.url, "GET", "/w/c.h5r/FitResults.npy")[1]).shape == (4,)


class _System:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Popen:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (subprocess.Popen, (["touch", self.marker],))


class _Eval:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w')",))


@pytest.mark.parametrize("allow_pickle", [False, True])
def test_malicious_pickles_are_400_and_run_nothing(dataserver, http, tmp_path, allow_pickle):
    srv = dataserver(allow_pickle=allow_pickle)
    marker = tmp_path / "pwned"
    gadgets = [
        pickle.dumps(_System(f"touch {marker}"), protocol=2),
        pickle.dumps(_Popen(str(marker)), protocol=4),
        pickle.dumps(_Eval(str(marker)), protocol=5),
        pickle.dumps((np.ones(2, REC), _System(f"touch {marker}")), protocol=2),  # hidden beside a real array
        pickle.dumps(_System(f"touch {marker}"), protocol=0),  # no protocol marker: not even sniffed as pickle
    ]
    for body in gadgets:
        for gz in (False, True):
            status, answer = http(srv.url, "PUT", "/__aggregate_h5r/evil/e.h5r/FitResults", body, gz=gz)
            assert status == 400, answer
    assert not marker.exists()
    assert not (srv.root / "evil" / "e.h5r").exists()
    plain = pickle.dumps(np.ones(3, REC), protocol=2)
    assert http(srv.url, "PUT", "/__aggregate_h5r/evil/e.h5r/FitResults", plain)[0] == (200 if allow_pickle else 400)


def test_free_space_floor_answers_507(dataserver, http, to_npy):
    srv = dataserver(free_space_floor=1 << 62)
    assert http(srv.url, "PUT", "/__aggregate_h5r/f/s.h5r/FitResults", to_npy(np.ones(2, REC)))[0] == 507
    assert not (srv.root / "f" / "s.h5r").exists()


def test_concurrent_appends_land_whole_and_in_request_order(dataserver, http, to_npy):
    srv = dataserver(fsync=True)
    writers, batches, size = 4, 15, 9
    dtype = np.dtype([("writer", "<i4"), ("seq", "<i4"), ("row", "<i4")])
    failures: list[BaseException] = []

    def write(w: int) -> None:
        try:
            for seq in range(batches):
                recs = np.zeros(size, dtype)
                recs["writer"], recs["seq"], recs["row"] = w, seq, np.arange(size)
                status, body = http(srv.url, "PUT", "/__aggregate_h5r/c/all.h5r/FitResults", to_npy(recs))
                assert status == 200, body
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures and not any(t.is_alive() for t in threads)
    with tables.open_file(str(srv.root / "c" / "all.h5r")) as f:
        rows = f.root.FitResults.read()
    assert rows.shape == (writers * batches * size,)
    blocks = rows.reshape(-1, size)
    assert (blocks["row"] == np.arange(size)).all()  # every request's rows contiguous and in order
    assert (blocks["writer"] == blocks["writer"][:, :1]).all() and (blocks["seq"] == blocks["seq"][:, :1]).all()
    for w in range(writers):  # each writer's requests in the order it sent them
        assert blocks["seq"][blocks["writer"][:, 0] == w, 0].tolist() == list(range(batches))
