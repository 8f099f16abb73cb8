"""A chunk task against a real data server: write-once parts make a repeated task harmless (exactly once)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from photonflow.compute.tasks import ChunkTask, part_name, run_chunk
from photonflow.formats.series import SeriesWriter
from photonflow.localization import LocalizationParams, localize
from photonflow.localization.simulate import simulate
from photonflow.storage import ClusterClient


def test_repeated_chunk_task_writes_its_rows_once(dataserver: Any) -> None:
    srv = dataserver(cluster="tasks")
    movie = simulate(n_frames=60, shape=(32, 32), n_emitters=60, active_per_frame=3.0, seed=2)
    params = {"psf_sigma": movie.psf_sigma * movie.pixel_size, "pixel_size": movie.pixel_size, "bg_range": [-10, 0]}
    with ClusterClient("tasks", [srv.url], zeroconf=False, registry=False) as client:
        with SeriesWriter(client, "t/s.pcs", movie.camera.to_metadata(), chunk_size=30) as writer:
            for i, frame in enumerate(movie.frames):
                writer.store_frame(i, frame)
            writer.finalize()
        task = ChunkTask(series="t/s.pcs", index=1, start=30, stop=60, n_frames=60, params=params,
                         camera=movie.camera.to_metadata(), parts_dir="t/analysis/s.parts", cluster="tasks",
                         servers=(srv.url,))
        first = run_chunk(task)
        again = run_chunk(task)
        part = np.load(io.BytesIO(client.get_file(f"t/analysis/s.parts/{part_name(1)}")), allow_pickle=False)
    assert not first.duplicate and again.duplicate and again.rows == 0
    assert part.shape[0] == first.rows > 0
    whole = localize(movie.frames, camera=movie.camera, params=LocalizationParams.from_mapping(params))
    expected = whole[whole["frame"] >= 30]
    assert part.shape == expected.shape
    np.testing.assert_allclose(np.sort(part["x"]), np.sort(expected["x"]), rtol=1e-5)
