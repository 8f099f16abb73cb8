"""Demo content for the UI's browser tests, screenshots and benchmark: a simulated series and its results."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from photonflow.storage import ClusterClient

__all__ = ["DEMO_PIXEL_NM", "DEMO_SHAPE", "write_demo_results", "write_demo_series"]

DEMO_SHAPE = (64, 64)
DEMO_PIXEL_NM = 100.0


def _metadata(camera_md: dict[str, float], n_frames: int) -> dict[str, object]:
    return {
        "voxelsize.x": DEMO_PIXEL_NM / 1000, "voxelsize.y": DEMO_PIXEL_NM / 1000, "voxelsize.units": "um",
        "Camera.ROIWidth": DEMO_SHAPE[1], "Camera.ROIHeight": DEMO_SHAPE[0], "Camera.ReadNoise": 1.0,
        "Camera.NoiseFactor": 1.41, "Sample.Notes": "photonflow demo: simulated blinking emitters",
        "Protocol.Filename": "demo", "EstimatedFrames": n_frames, **camera_md,
    }


def write_demo_series(client: ClusterClient, path: str, *, n_frames: int = 200, finalize: bool = True,
                      seed: int = 0) -> np.ndarray:
    """Spool a simulated SMLM movie into series ``path``; leave it spooling (no ``events.json``) unless ``finalize``.

    Returns the frames as written (``(n, 64, 64)`` uint16, axis 1 = x as PYME stores them).
    """
    from photonflow.formats.series import SeriesWriter
    from photonflow.localization.simulate import simulate

    movie = simulate(n_frames=n_frames, shape=DEMO_SHAPE, pixel_size=DEMO_PIXEL_NM, n_emitters=300,
                     active_per_frame=8, seed=seed)
    metadata = _metadata(movie.camera.to_metadata(), n_frames)
    writer = SeriesWriter(client, path, metadata, chunk_size=50)
    for i, frame in enumerate(movie.frames):
        writer.store_frame(i, frame)
    if finalize:
        writer.finalize()
    else:
        writer.flush()
    # The writer's streamer bypasses the client's listing cache: refresh it so the series shows at once.
    client.listdirectory(path.rpartition("/")[0], fresh=True)
    return np.asarray(movie.frames)


def write_demo_results(client: ClusterClient, path: str, *, n: int = 5000, seed: int = 1) -> np.ndarray:
    """Write a plausible results table (``.h5r`` with camera metadata) to cluster ``path``; return the table."""
    from photonflow.formats.h5r import append_table, write_metadata
    from photonflow.localization.results import empty_results

    rng = np.random.default_rng(seed)
    table = empty_results(n)
    width_nm, height_nm = DEMO_SHAPE[1] * DEMO_PIXEL_NM, DEMO_SHAPE[0] * DEMO_PIXEL_NM
    # Emitters on a few rings, so the rendered image shows structure.
    centres = rng.uniform(0.2, 0.8, size=(6, 2)) * (width_nm, height_nm)
    ring = rng.integers(0, len(centres), n)
    angle = rng.uniform(0, 2 * np.pi, n)
    table["x"] = centres[ring, 0] + 400 * np.cos(angle) + rng.normal(0, 15, n)
    table["y"] = centres[ring, 1] + 400 * np.sin(angle) + rng.normal(0, 15, n)
    table["frame"] = np.sort(rng.integers(0, 2000, n))
    table["photons"] = rng.lognormal(np.log(1500), 0.5, n)
    table["bg"] = rng.normal(20, 2, n)
    table["sigma"] = rng.normal(130, 10, n)
    table["x_err"] = 130 / np.sqrt(table["photons"]) * 1.4
    table["y_err"] = table["x_err"]
    table["converged"] = True
    with tempfile.TemporaryDirectory(prefix="photonflow-demo-") as tmp:
        local = os.path.join(tmp, "results.h5r")
        append_table(local, "FitResults", table, durable=False)
        write_metadata(local, _metadata({}, 2000), durable=False)
        with open(local, "rb") as f:
            client.put_file(path, f.read())
    return table
