"""Live distributed analysis in a cluster of one vs. one local process, and Dask's scheduling overhead.

Run: ``.venv/bin/python benchmarks/cluster.py [--frames 2000] [--size 64] [--workers 2] [--chunk-size 100]``

Prints, each as the median of ``--repeats`` runs (default 3):

* local: ``localize`` in this process on the same frames (frames/s, localizations/s);
* cluster: a series spooled as fast as possible into ``photonflow up``'s cluster (data server, scheduler, workers as
  processes) and analysed live; wall time from the first frame to the assembled ``.h5r`` (frames/s, locs/s), and
  its ratio to local;
* scheduling overhead: the mean Dask round trip of a no-op task placed on a given worker (same cluster, measured
  here), divided by the mean time inside one chunk task (target < 5 %).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from photonflow.compute.api import RuleAPI
from photonflow.compute.cluster_of_one import ClusterOfOne
from photonflow.formats.series import SeriesWriter
from photonflow.localization import LocalizationParams, localize
from photonflow.localization.simulate import simulate
from photonflow.storage import ClusterClient


def _noop(x: int) -> int:
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 2))
    ap.add_argument("--chunk-size", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n, size = args.frames, args.size
    movie = simulate(n_frames=n, shape=(size, size), structure="microtubules", n_emitters=size * size // 8,
                     active_per_frame=size * size / 800, seed=1)
    params = {"psf_sigma": movie.psf_sigma * movie.pixel_size, "pixel_size": movie.pixel_size}
    metadata = {**movie.camera.to_metadata(), "voxelsize.x": movie.pixel_size / 1e3,
                "voxelsize.y": movie.pixel_size / 1e3}
    print(f"cpus: {os.cpu_count()}; {n} frames of {size}x{size}; chunk {args.chunk_size} frames/task; "
          f"{args.workers} worker process(es) x 1 thread")

    lp = LocalizationParams.from_mapping(params)
    localize(movie.frames[:50], camera=movie.camera, params=lp)  # compile / load numba kernels
    local_s, n_locs = [], 0
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        n_locs = localize(movie.frames, camera=movie.camera, params=lp).shape[0]
        local_s.append(time.perf_counter() - t0)
    t_local = statistics.median(local_s)

    with tempfile.TemporaryDirectory(prefix="pf-bench-") as tmp, \
            ClusterOfOne(root=Path(tmp), cluster=f"bench{os.getpid()}", workers=args.workers) as cluster:
        api = RuleAPI(cluster.api_url)
        from distributed import Client

        with Client(cluster.scheduler_address, set_as_default=False) as dask:
            worker = sorted(dask.scheduler_info()["workers"])[0]
            dask.submit(_noop, -1, workers=[worker], pure=False).result()
            round_trips = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                futures = [dask.submit(_noop, i, workers=[worker], allow_other_workers=True, pure=False)
                           for i in range(200)]
                dask.gather(futures)
                round_trips.append((time.perf_counter() - t0) / 200)
            per_task_overhead = statistics.median(round_trips)
        cluster_s, task_s, cluster_locs, local_share = [], [], 0, []
        with ClusterClient(cluster.cluster, [cluster.dataserver_url], zeroconf=False, registry=False) as client:
            for run in range(args.repeats + 1):  # run 0 warms the workers' numba caches
                t0 = time.perf_counter()
                writer = SeriesWriter(client, f"bench/run{run}.pcs", metadata, chunk_size=args.chunk_size)
                rule = api.submit_localization(f"bench/run{run}.pcs", params=params)
                for i, frame in enumerate(movie.frames):
                    writer.store_frame(i, frame)
                writer.finalize()
                done = api.wait(rule["id"], timeout_s=600, poll_s=0.05, follow_chain=False)
                elapsed = time.perf_counter() - t0
                if done["status"] != "complete":
                    raise SystemExit(f"rule {done['id']} {done['status']}: {done.get('error')}")
                if run == 0:
                    continue
                cluster_s.append(elapsed)
                cluster_locs = done["counts"]["rows"]
                task_s.append(float(np.mean([t["seconds"] for t in done["tasks"]])))
                local_share.append(done["counts"]["local"] / done["counts"]["done"])
    t_cluster = statistics.median(cluster_s)
    t_task = statistics.median(task_s)
    print(f"local, 1 process         : {n / t_local:8.0f} frames/s  {n_locs / t_local:9.0f} locs/s  "
          f"({t_local:.2f} s, runs {', '.join(f'{x:.2f}' for x in local_s)})")
    print(f"cluster of one, live     : {n / t_cluster:8.0f} frames/s  {cluster_locs / t_cluster:9.0f} locs/s  "
          f"({t_cluster:.2f} s spool-to-h5r, runs {', '.join(f'{x:.2f}' for x in cluster_s)}); "
          f"{t_local / t_cluster:.2f}x local; tasks beside their data {statistics.median(local_share):.0%}")
    print(f"scheduling overhead      : {per_task_overhead * 1e3:.1f} ms Dask round trip per task / "
          f"{t_task * 1e3:.0f} ms inside a {args.chunk_size}-frame task = {per_task_overhead / t_task:.1%} "
          f"(target < 5 %)")


if __name__ == "__main__":
    main()
