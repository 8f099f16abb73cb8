"""Two data servers, a scheduler and two workers on loopback: live analysis, locality, faults, exactly-once rows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from photonflow.compute.api import RuleAPI
from photonflow.formats.h5r import list_tables, read_table
from photonflow.formats.series import SeriesWriter
from photonflow.localization import LocalizationParams, localize
from photonflow.localization.simulate import simulate
from photonflow.storage import ClusterClient

from .conftest import free_port, wait_worker_reconnect

pytestmark = pytest.mark.timeout(240)

CLUSTER = "computetest"


def _movie(n: int) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    movie = simulate(n_frames=n, shape=(40, 40), n_emitters=120, active_per_frame=3.0, seed=7)
    metadata = {**movie.camera.to_metadata(), "voxelsize.x": movie.pixel_size / 1e3,
                "voxelsize.y": movie.pixel_size / 1e3}
    params = {"psf_sigma": movie.psf_sigma * movie.pixel_size, "pixel_size": movie.pixel_size, "bg_range": [-20, 0]}
    return movie, metadata, params


def _sorted(table: np.ndarray) -> np.ndarray:
    return table[np.lexsort((table["y"], table["x"], table["frame"]))]


def _assert_same_rows(got: np.ndarray, movie: Any, params: dict[str, Any]) -> None:
    expected = localize(movie.frames, camera=movie.camera, params=LocalizationParams.from_mapping(params))
    assert got.shape == expected.shape, "missing or duplicated rows"
    keys = got[["frame", "x", "y"]]
    assert np.unique(keys).shape[0] == got.shape[0], "duplicated rows"
    g, e = _sorted(got), _sorted(expected)
    np.testing.assert_array_equal(g["frame"], e["frame"])
    for col in ("x", "y", "photons", "bg", "sigma"):
        np.testing.assert_allclose(g[col], e[col], rtol=1e-5, atol=1e-3)


def _results(client: ClusterClient, path: str, tmp_path: Path) -> np.ndarray:
    local = tmp_path / "results.h5r"
    local.write_bytes(client.get_file(path))
    assert {"FitResults", "Localizations"} <= set(list_tables(local))
    fit = read_table(local, "FitResults")
    table = read_table(local, "Localizations")
    assert fit.shape == table.shape and "tIndex" in (fit.dtype.names or ())
    return table


def _cluster(dataserver_process: Any, compute_procs: Any, tmp_path: Path, *, port: int = 0) -> tuple[Any, ...]:
    ds = [dataserver_process(cluster=CLUSTER), dataserver_process(cluster=CLUSTER)]
    servers = ",".join(d.url for d in ds)
    state = str(tmp_path / "rules.sqlite")
    sched_args = ("--port", str(port), "--advertise", "none", "--servers", servers, "--cluster", CLUSTER,
                  "--state", state)
    sched = compute_procs("scheduler", *sched_args)
    address = sched.match.group(1)
    workers = [compute_procs("worker", "--dataserver", d.url, "--scheduler", address, "--cluster", CLUSTER)
               for d in ds]
    client = ClusterClient(CLUSTER, [d.url for d in ds], zeroconf=False, registry=False)
    return ds, sched, sched_args, workers, client, RuleAPI(sched.match.group(2))


def test_live_series_is_analysed_beside_its_data(dataserver_process: Any, compute_procs: Any, tmp_path: Path) -> None:
    movie, metadata, params = _movie(800)
    _, _, _, _, client, api = _cluster(dataserver_process, compute_procs, tmp_path)
    with client:
        writer = SeriesWriter(client, "live/run1.pcs", metadata, chunk_size=50)
        rule = api.submit_localization("PYME-CLUSTER://computetest/live/run1.pcs", params=params)
        for i in range(400):
            writer.store_frame(i, movie.frames[i])
        writer.flush()
        deadline = time.monotonic() + 90
        while api.rule(rule["id"])["counts"]["done"] < 2:  # analysis runs while the series is still spooling
            assert time.monotonic() < deadline, "no chunk analysed while the series was spooling"
            time.sleep(0.1)
        assert api.rule(rule["id"])["status"] == "active"
        for i in range(400, 800):
            writer.store_frame(i, movie.frames[i])
        writer.finalize()
        final = api.wait(rule["id"], timeout_s=150, follow_chain=False)
        assert final["status"] == "complete", final
        counts = final["counts"]
        assert counts["done"] == counts["released"] == 16
        assert counts["local"] / counts["done"] >= 0.95, final["tasks"]
        assert final["frames_per_s"] > 0 and final["localizations_per_s"] > 0  # measured by the engine
        workers = api.workers()
        assert len(workers) == 2 and all(w["responsive"] and w["nthreads"] >= 1 for w in workers), workers
        assert {w["dataserver"] for w in workers} == {s.url for s in client.servers()}
        assert all(t["local"] for t in final["tasks"]) or counts["local"] >= 0.95 * 16
        got = _results(client, final["outputs"][0], tmp_path)
        _check_cli(api.url, rule["id"])
    _assert_same_rows(got, movie, params)


def _check_cli(api_url: str, rule_id: str) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "photonflow", *args, "--api", api_url, "--config", os.devnull],
                              capture_output=True, text=True, timeout=60)

    listed = cli("rules")
    assert listed.returncode == 0 and rule_id in listed.stdout and "complete" in listed.stdout, listed
    missing = cli("cancel", "000999-nope")
    assert missing.returncode == 1 and "no rule" in missing.stderr
    bad = cli("analyse", "no/such/series.pcs")
    assert bad.returncode == 1 and "not a series" in bad.stderr


def test_worker_killed_and_scheduler_restarted_mid_rule(
    dataserver_process: Any, compute_procs: Any, tmp_path: Path
) -> None:
    movie, metadata, params = _movie(1200)
    port = free_port()
    _, sched, sched_args, workers, client, api = _cluster(dataserver_process, compute_procs, tmp_path, port=port)
    with client:
        with SeriesWriter(client, "faults/run2.pcs", metadata, chunk_size=50) as writer:
            for i, frame in enumerate(movie.frames):
                writer.store_frame(i, frame)
            writer.finalize()
        rule = api.submit_localization("faults/run2.pcs", params=params)

        def wait_done(n: int) -> dict[str, Any]:
            deadline = time.monotonic() + 90
            while (state := api.rule(rule["id"]))["counts"]["done"] < n:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            return state

        wait_done(2)
        workers[0].kill()  # SIGKILL: its running task is lost; Dask hands it to the other worker
        state = wait_done(5)
        assert state["status"] == "active", "rule ended before the scheduler could be restarted; use more frames"
        sched.kill()  # SIGKILL: the rule engine dies with its futures; SQLite keeps the state
        sched2 = compute_procs("scheduler", *sched_args)
        api = RuleAPI(sched2.match.group(2))
        wait_worker_reconnect(workers[1], 2)  # the surviving worker rejoins the new scheduler
        final = api.wait(rule["id"], timeout_s=150, follow_chain=False)
        assert final["status"] == "complete", final
        assert final["counts"]["done"] == 24
        got = _results(client, final["outputs"][0], tmp_path)
    _assert_same_rows(got, movie, params)
