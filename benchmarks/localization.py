"""Localization speed and precision, photonflow beside Picasso on the same simulated data.

Run: ``.venv/bin/python benchmarks/localization.py`` (needs ``.venv/bin/pip install picassosr --no-deps``;
Picasso is a benchmark-only peer, not a photonflow dependency). Prints medians of 3 runs.

Single-thread rates are given twice: by wall clock and by process CPU time. On a shared machine the wall clock
also counts time spent waiting for a core, so the CPU-time rate is the per-core figure; ratios to Picasso are
taken with the same clock in the same run.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable

import numba
import numpy as np

from photonflow.localization import Camera, LocalizationParams, localize
from photonflow.localization.detect import DetectionWorkspace, detect
from photonflow.localization.fit import fit_mle, mortensen_mle_variance
from photonflow.localization.metrics import match
from photonflow.localization.simulate import simulate, simulate_spots

PIXEL = 100.0


def _median_time(fn: Callable[[], object], runs: int = 3) -> tuple[float, float]:
    """Median (wall, process CPU) seconds of ``runs`` calls after one warm-up call."""
    fn()  # compile / warm caches
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return statistics.median(wall), statistics.median(cpu)


def bench_fits() -> None:
    from picasso import gaussmle

    n = 20000
    spots = simulate_spots(n, photons=1000.0, bg=10.0, sigma=1.3, seed=1)
    bound = math.sqrt(mortensen_mle_variance(1000.0, 10.0, 130.0, PIXEL))
    cores = os.cpu_count() or 1

    numba.set_num_threads(1)
    t1, c1 = _median_time(lambda: fit_mle(spots.rois, sigma=1.3))
    numba.set_num_threads(cores)
    tn, _ = _median_time(lambda: fit_mle(spots.rois, sigma=1.3))
    r = fit_mle(spots.rois, sigma=1.3)
    sd_ours = float(np.std((r.params[:, 0] - spots.x) * PIXEL))

    numba.set_num_threads(1)
    tp, cp = _median_time(lambda: gaussmle.gaussmle(spots.rois, 1e-3, 100, method="sigma"), runs=3)
    theta = gaussmle.gaussmle(spots.rois, 1e-3, 100, method="sigma")[0]
    # Picasso puts pixel centres at integer ROI coordinates; ours at j + 0.5
    sd_pic = float(np.std((theta[:, 0] + 0.5 - spots.x) * PIXEL))
    numba.set_num_threads(cores)

    print(f"## 7x7 integrated-Gaussian MLE, sigma free, N=1000, bg=10, sigma=1.3 px, {n} spots")
    print(f"photonflow, 1 thread      : {n / t1:8.0f} fits/s wall, {n / c1:8.0f} fits/s/core CPU   "
          f"precision {sd_ours:.2f} nm, mean {r.iterations.mean():.2f} iterations")  # fmt: skip
    print(f"photonflow, {cores} threads     : {n / tn:8.0f} fits/s wall ({n / tn / cores:.0f}/core)")
    print(f"Picasso gaussmle, 1 thread: {n / tp:8.0f} fits/s wall, {n / cp:8.0f} fits/s/core CPU   "
          f"precision {sd_pic:.2f} nm")  # fmt: skip
    print(f"ratio photonflow/Picasso per core: {tp / t1:.2f}x wall, {cp / c1:.2f}x CPU   "
          f"(Mortensen MLE bound {bound:.2f} nm)")  # fmt: skip


def bench_end_to_end() -> None:
    from picasso import gaussmle
    from picasso import localize as plocalize

    n_frames = 60
    cam = Camera(baseline=100.0)
    movie = simulate(n_frames=n_frames, shape=(512, 512), n_emitters=20000, active_per_frame=50.0,
                     mean_on_frames=1.5, photons=2000.0, brightness="constant", background=20.0, camera=cam,
                     seed=4)  # fmt: skip
    params = LocalizationParams(threshold=6.0, bg_range=(0, 0))
    numba.set_num_threads(1)
    t_ours = _median_time(lambda: localize(movie.frames, camera=cam, params=params))
    res = localize(movie.frames, camera=cam, params=params)
    m_ours = match(res, movie.truth, tolerance_nm=250.0)
    # the default sliding-mean background over the 30 preceding frames, on the same movie
    params_bg = LocalizationParams(threshold=6.0, bg_range=(-30, 0))
    t_bg = _median_time(lambda: localize(movie.frames, camera=cam, params=params_bg))
    res_bg = localize(movie.frames, camera=cam, params=params_bg)
    m_bg = match(res_bg, movie.truth, tolerance_nm=250.0)

    info = {"Baseline": 100.0, "Sensitivity": 1.0, "Gain": 1.0, "Qe": 1.0}
    frames = movie.frames
    images = [cam.to_photoelectrons(f) for f in frames]
    rv = cam.read_variance(images[0].shape)
    ws = DetectionWorkspace(images[0].shape)

    def detect_all() -> None:
        for im in images:
            detect(im, camera=cam, read_variance=rv, background=0.0, threshold=6.0, workspace=ws)

    t_det = _median_time(detect_all)
    t_pid = _median_time(lambda: plocalize.identify(frames, 2000, 7, threaded=False, return_info=False))

    def picasso_run() -> tuple[np.ndarray, object]:
        ids = plocalize.identify(frames, 2000, 7, threaded=False, return_info=False)
        spots = plocalize.get_spots(frames, ids, 7, info)
        theta = gaussmle.gaussmle(spots, 1e-3, 100, method="sigma")[0]
        return theta, ids

    t_pic = _median_time(picasso_run)
    theta, ids = picasso_run()
    frame_col = np.asarray(ids["frame"])
    # Picasso's box centre is the identified pixel; pixel centres sit at integer coordinates
    px = (np.asarray(ids["x"]) + theta[:, 0] - 3 + 0.5) * PIXEL
    py = (np.asarray(ids["y"]) + theta[:, 1] - 3 + 0.5) * PIXEL
    m_pic = match((frame_col, px, py), movie.truth, tolerance_nm=250.0)
    numba.set_num_threads(os.cpu_count() or 1)

    print(f"\n## End to end, {n_frames} frames 512x512, ~50 emitters/frame (2000 photons, bg 20), 1 thread")
    rows = (
        ("photonflow", t_ours, len(res), m_ours),
        ("photonflow, bg (-30,0)", t_bg, len(res_bg), m_bg),
        ("Picasso", t_pic, len(theta), m_pic),
    )
    for name, (wall, cpu), table_len, m in rows:
        print(f"{name:22s}: {table_len / wall:8.0f} loc/s wall {table_len / cpu:8.0f} loc/s/core CPU  "
              f"{n_frames / cpu:6.1f} frames/s CPU  JI {m.jaccard:.3f}  RMSE {m.rmse_lateral:.2f} nm")  # fmt: skip
    print(
        f"ratio photonflow/Picasso (time per movie): {t_pic[0] / t_ours[0]:.2f}x wall, {t_pic[1] / t_ours[1]:.2f}x CPU"
    )
    print(f"detection only: photonflow {1e3 * t_det[1] / n_frames:.2f} ms/frame CPU, Picasso identify "
          f"{1e3 * t_pid[1] / n_frames:.2f} ms/frame CPU ({t_pid[1] / t_det[1]:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    bench_fits()
    bench_end_to_end()
