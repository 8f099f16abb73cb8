"""A cluster of one (data server, scheduler, worker subprocesses): a recipe rule over files from the CLI, and
cancelling a rule over a live series end to end."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from photonflow.compute.api import RuleAPI
from photonflow.formats.h5r import read_table
from photonflow.formats.series import SeriesWriter
from photonflow.localization.results import LOCALIZATION_DTYPE
from photonflow.localization.simulate import simulate
from photonflow.storage import ClusterClient

pytestmark = pytest.mark.timeout(180)

CLUSTER = "rulekinds"
RECIPE = """
- FilterTable: {filters: {x_err: [0, 10]}}
- SaveHDF: {input: filtered, file_pattern: '{output_dir}/{file_stub}_f.h5r'}
"""


def _cluster_of_one(dataserver_process: Any, compute_procs: Any, tmp_path: Path) -> tuple[Any, ClusterClient, RuleAPI]:
    ds = dataserver_process(cluster=CLUSTER)
    sched = compute_procs("scheduler", "--port", "0", "--advertise", "none", "--servers", ds.url,
                          "--cluster", CLUSTER, "--state", str(tmp_path / "rules.sqlite"))
    compute_procs("worker", "--dataserver", ds.url, "--scheduler", sched.match.group(1), "--cluster", CLUSTER)
    client = ClusterClient(CLUSTER, [ds.url], zeroconf=False, registry=False, listing_ttl_s=0)
    return ds, client, RuleAPI(sched.match.group(2))


def _table(n: int, seed: int) -> np.ndarray:
    table = np.zeros(n, LOCALIZATION_DTYPE)
    rng = np.random.default_rng(seed)
    table["frame"] = np.arange(n)
    table["x"] = rng.uniform(0, 5000, n)
    table["x_err"] = rng.uniform(0, 20, n)
    return table


def test_recipe_rule_over_three_result_files_from_the_cli(
    dataserver_process: Any, compute_procs: Any, tmp_path: Path
) -> None:
    ds, client, api = _cluster_of_one(dataserver_process, compute_procs, tmp_path)
    recipe = tmp_path / "filter.yaml"
    recipe.write_text(RECIPE)
    tables = {f"runs/r{i}.npy": _table(200 + 50 * i, seed=i) for i in range(3)}
    with client:
        for path, table in tables.items():
            buf = io.BytesIO()
            np.save(buf, table, allow_pickle=False)
            client.put_file(path, buf.getvalue())
        client.put_file("runs/notes.txt", b"not matched by the glob")
        done = subprocess.run(
            [sys.executable, "-m", "photonflow", "analyse-files", "--recipe", str(recipe), "runs/*.npy",
             "--output-dir", "runs/filtered", "--wait", "--timeout", "120", "--api", api.url,
             "--cluster", CLUSTER, "--servers", ds.url, "--config", os.devnull],
            capture_output=True, text=True, timeout=150,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "over 3 file(s)" in done.stdout and "complete" in done.stdout
        (rule,) = api.rules()
        assert rule["kind"] == "recipe" and rule["counts"]["done"] == 3
        assert sorted(rule["outputs"]) == [f"runs/filtered/r{i}_f.h5r" for i in range(3)]
        assert client.listdir("runs/filtered") == [f"r{i}_f.h5r" for i in range(3)]
        for i, (_path, table) in enumerate(tables.items()):
            local = tmp_path / f"r{i}_f.h5r"
            local.write_bytes(client.get_file(f"runs/filtered/r{i}_f.h5r"))
            got = read_table(local, "FitResults")
            keep = table[(table["x_err"] >= 0) & (table["x_err"] <= 10)]
            assert 0 < got.shape[0] == keep.shape[0] < table.shape[0]
            np.testing.assert_array_equal(got["frame"], keep["frame"])
            np.testing.assert_allclose(got["x"], keep["x"], rtol=1e-6)
        nothing = subprocess.run(
            [sys.executable, "-m", "photonflow", "analyse-files", "--recipe", str(recipe), "runs/*.tif",
             "--output-dir", "runs/x", "--api", api.url, "--cluster", CLUSTER, "--servers", ds.url,
             "--config", os.devnull],
            capture_output=True, text=True, timeout=60,
        )
        assert nothing.returncode == 1 and "matches 'runs/*.tif'" in nothing.stderr


def test_cancelling_a_rule_over_a_live_series(dataserver_process: Any, compute_procs: Any, tmp_path: Path) -> None:
    _, client, api = _cluster_of_one(dataserver_process, compute_procs, tmp_path)
    movie = simulate(n_frames=600, shape=(40, 40), n_emitters=60, active_per_frame=2.0, seed=3)
    metadata = {**movie.camera.to_metadata(), "voxelsize.x": movie.pixel_size / 1e3,
                "voxelsize.y": movie.pixel_size / 1e3}
    params = {"psf_sigma": movie.psf_sigma * movie.pixel_size, "pixel_size": movie.pixel_size}
    with client:
        writer = SeriesWriter(client, "live/cancel.pcs", metadata, chunk_size=50)
        rule = api.submit_localization("live/cancel.pcs", params=params)
        for i in range(200):
            writer.store_frame(i, movie.frames[i])
        writer.flush()
        deadline = time.monotonic() + 90
        while api.rule(rule["id"])["counts"]["done"] < 1:
            assert time.monotonic() < deadline, "no chunk analysed"
            time.sleep(0.1)
        cancelled = api.cancel(rule["id"])
        assert cancelled["status"] == "cancelled"
        released = api.rule(rule["id"])["counts"]["released"]
        for i in range(200, 600):  # the rest of the series lands after the cancel
            writer.store_frame(i, movie.frames[i])
        writer.finalize()
        time.sleep(3)  # about a dozen engine rounds (0.25 s each) in which new chunks would have been released
        final = api.rule(rule["id"])
        assert final["status"] == "cancelled"
        assert final["counts"]["released"] == released < 12, "tasks were released after the cancel"
        assert final["counts"]["pending"] == final["counts"]["running"] == 0
        assert all(t["status"] in ("done", "failed") for t in final["tasks"])
        assert not client.exists(cancelled["spec"]["results"]), "a cancelled rule wrote its results file"
        assert final["outputs"] == []
