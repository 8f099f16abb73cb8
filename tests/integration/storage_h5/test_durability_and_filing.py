"""Appends survive a SIGKILL right after the 200; results filing keeps one file on one server (§4.11, §8 S13)."""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import pytest
import tables

from photonflow.errors import FormatError, StorageError
from photonflow.storage import ClusterClient
from photonflow.storage.results import file_metadata, file_results, read_results, results_server

DTYPE = np.dtype([("t", "<i4"), ("x", "<f8")])


def _batch(k: int, n: int = 50) -> np.ndarray:
    recs = np.zeros(n, DTYPE)
    recs["t"] = np.arange(n) + k * n
    recs["x"] = recs["t"] * 0.5
    return recs


def test_rows_acknowledged_before_sigkill_are_kept(dataserver_process, http, to_npy):
    proc = dataserver_process()
    for k in range(20):
        assert http(proc.url, "PUT", "/__aggregate_h5r/k/r.h5r/FitResults", to_npy(_batch(k)))[0] == 200
    assert http(proc.url, "PUT", "/__aggregate_h5/k/s.h5/events.json", b'[["StartAq", "0", 1.0]]')[0] == 200
    proc.kill()  # SIGKILL straight after the last 200
    with tables.open_file(str(proc.root / "k" / "r.h5r")) as f:
        rows = f.root.FitResults.read()
    np.testing.assert_array_equal(rows, np.concatenate([_batch(k) for k in range(20)]))
    restarted = dataserver_process(proc.root)
    got = np.load(io.BytesIO(http(restarted.url, "GET", "/k/r.h5r/FitResults.npy?from=990")[1]))
    np.testing.assert_array_equal(got, _batch(19)[40:])
    assert json.loads(http(restarted.url, "GET", "/k/s.h5/events.json")[1]) == [["StartAq", "0", 1.0]]
    assert http(restarted.url, "PUT", "/__aggregate_h5r/k/r.h5r/FitResults", to_npy(_batch(20)))[0] == 200


def test_pickles_allowed_by_config_in_a_server_process(dataserver_process, http):
    import pickle

    on = dataserver_process(env={"PHOTONFLOW_ALLOW_PICKLE": "true"})
    off = dataserver_process()
    body = pickle.dumps(_batch(0), protocol=2)
    assert http(on.url, "PUT", "/__aggregate_h5r/p/r.h5r/FitResults", body)[0] == 200
    assert http(off.url, "PUT", "/__aggregate_h5r/p/r.h5r/FitResults", body)[0] == 400


@pytest.fixture
def two_servers(dataserver):
    a, b = dataserver(fsync=True), dataserver(fsync=True)
    with ClusterClient("test", servers=[a.url, b.url], registry=False, zeroconf=False, local_reads=False) as client:
        yield a, b, client


def test_results_of_one_file_go_to_one_server(two_servers):
    a, b, client = two_servers
    path = "run/analysis/cell.h5r"
    first = file_metadata(client, path, {"voxelsize.x": 0.1, "Analysis.Module": "Gauss"})
    failures: list[BaseException] = []

    def worker(w: int) -> None:
        # one client per worker, as on separate nodes; each starts from nothing cached
        try:
            with ClusterClient("test", servers=[a.url, b.url], registry=False, zeroconf=False) as own:
                for k in range(5):
                    assert file_results(own, f"PYME-CLUSTER://test/{path}", "FitResults", _batch(w * 5 + k)) == first
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures
    holder, other = (a, b) if first == a.url else (b, a)
    assert (holder.root / path).is_file() and not (other.root / path).exists()
    rows = read_results(client, path, "FitResults")
    assert sorted(rows["t"].tolist()) == list(range(750))
    assert read_results(client, path, "FitResults", start=10, stop=12).shape == (2,)
    assert read_results(client, path, "Missing").shape == (0,)


def test_first_filing_without_metadata_agrees_across_clients(two_servers):
    a, b, client = two_servers
    chosen = {results_server(client, f"r/file{i}.h5r") for i in range(20)}
    assert chosen == {a.url, b.url}  # rendezvous hashing spreads files over the servers
    with ClusterClient("test", servers=[b.url, a.url], registry=False, zeroconf=False) as reordered:
        assert all(results_server(reordered, f"r/file{i}.h5r") == results_server(client, f"r/file{i}.h5r")
                   for i in range(20))


def test_duplicate_files_and_bad_records_are_refused(two_servers, http, to_npy):
    a, b, client = two_servers
    for srv in (a, b):
        assert http(srv.url, "PUT", "/__aggregate_h5r/dup/x.h5r/FitResults", to_npy(_batch(0)))[0] == 200
    with pytest.raises(StorageError, match="2 servers"):
        file_results(client, "dup/x.h5r", "FitResults", _batch(1))
    file_results(client, "ok/y.h5r", "FitResults", _batch(0))
    with pytest.raises(FormatError):
        file_results(client, "ok/y.h5r", "FitResults", np.zeros(3, [("other", "<f4")]))  # columns differ: 400
    with pytest.raises(FormatError):
        file_results(client, "ok/y.h5r", "FitResults", np.arange(3))
    with pytest.raises(ValueError):
        file_results(client, "ok/y.txt", "FitResults", _batch(0))


def test_no_new_file_while_a_server_that_may_hold_it_is_down(two_servers):
    from photonflow.errors import ServerUnavailableError

    a, b, client = two_servers
    file_results(client, "live/z.h5r", "FitResults", _batch(0))
    holder, other = (a, b) if results_server(client, "live/z.h5r") == a.url else (b, a)
    holder.stop(grace=1)
    with pytest.raises(ServerUnavailableError):
        file_results(client, "live/z.h5r", "FitResults", _batch(1))
    assert not (other.root / "live" / "z.h5r").exists()
