"""Localization post-processing throughput: rendering and RCC drift estimation on 1 M localizations.

Run: ``.venv/bin/python benchmarks/postprocess.py`` (about 1–3 minutes on 2 cores).

Each number is the median of ``--repeats`` runs (default 3) and is printed beside, in the same run:

* Picasso's ``render.render`` (histogram and Gaussian-by-precision) and ``postprocess.undrift`` (RCC), on the same
  localizations, when ``picassosr`` imports (benchmark-only peer, not a project dependency; it needs its runtime
  deps: ``.venv/bin/pip install picassosr`` or at least pandas<3, matplotlib, imageio, nd2, playsound3,
  scikit-learn<1.8, statsmodels, sqlalchemy);
* this machine's memory bandwidth (``np.copyto`` of 256 MiB), expressed as the rate at which a 1 M-row results
  table could merely be read (rows/s), an upper bound for any pass over the table.

Data: 20,000 fixed sites in a 25.6 × 25.6 µm field, 10,000 frames, 10 nm localization precision, and a known drift
(linear 120 nm + 40 nm sine in x, −90 nm + 30 nm cosine in y). Drift accuracy is reported as RMS error against the
truth (after removing the arbitrary constant offset).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from photonflow.localization.drift import estimate_drift
from photonflow.localization.render import render_gaussian, render_histogram
from photonflow.localization.results import empty_results

N_LOCS = 1_000_000
N_FRAMES = 10_000
FIELD_NM = 25_600.0
CAMERA_PX = 100.0
RENDER_PX = 10.0


def true_drift(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = frames.astype(np.float64)
    return (
        120 * f / N_FRAMES + 40 * np.sin(2 * np.pi * f / 6000),
        -90 * f / N_FRAMES + 30 * np.cos(2 * np.pi * f / 4500),
    )


def make_table(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sites = rng.uniform(500, FIELD_NM - 500, (20_000, 2))
    site = rng.integers(0, sites.shape[0], N_LOCS)
    frame = np.sort(rng.integers(0, N_FRAMES, N_LOCS))
    dx, dy = true_drift(frame)
    t = empty_results(N_LOCS)
    t["frame"] = frame
    t["x"] = sites[site, 0] + rng.normal(0, 10, N_LOCS) + dx
    t["y"] = sites[site, 1] + rng.normal(0, 10, N_LOCS) + dy
    t["x_err"] = rng.uniform(5, 20, N_LOCS)
    t["y_err"] = t["x_err"]
    t["photons"] = rng.uniform(500, 5000, N_LOCS)
    t["bg"] = 20.0
    t["sigma"] = 130.0
    return t


def memory_bandwidth(repeats: int) -> float:
    """Bytes/s copied by np.copyto between two touched 256 MiB buffers (median)."""
    src = np.ones(32 << 20, dtype=np.float64)
    dst = np.zeros_like(src)
    np.copyto(dst, src)
    times = []
    for _ in range(max(repeats, 5)):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    return src.nbytes / statistics.median(times)


def drift_rms(frames: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    tx, ty = true_drift(frames)
    ex, ey = x - tx, y - ty
    return float(np.sqrt(np.mean((ex - ex.mean()) ** 2 + (ey - ey.mean()) ** 2)))


def picasso_peer() -> tuple[Any, Any, Any] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pandas as pd
            from picasso import postprocess
            from picasso import render as prender
    except Exception as exc:  # any import failure means the peer is unavailable; say why
        print(f"picasso: not available ({type(exc).__name__}: {exc}); comparing with memory bandwidth only")
        return None
    return pd, prender, postprocess


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-picasso", action="store_true", help="skip the Picasso comparison")
    args = ap.parse_args()
    r = args.repeats

    table = make_table()
    bw = memory_bandwidth(r)
    table_rate = bw / table.dtype.itemsize
    print(f"memory bandwidth (np.copyto 256 MiB): {bw / 1e9:.2f} GB/s → reading a results table: "
          f"{table_rate / 1e6:.0f} M rows/s ({table.dtype.itemsize} B/row)")  # fmt: skip

    fov = (0.0, 0.0, FIELD_NM, FIELD_NM)
    ours: dict[str, Callable[[], Any]] = {
        "hist": lambda: render_histogram(table, pixel_nm=RENDER_PX, fov=fov),
        "gauss": lambda: render_gaussian(table, pixel_nm=RENDER_PX, fov=fov),
        "rcc": lambda: estimate_drift(table, segment_frames=1000, pixel_size_nm=CAMERA_PX, render_pixel_nm=20.0),
    }
    peers: dict[str, Callable[[], Any]] = {}
    mods = None if args.no_picasso else picasso_peer()
    if mods is not None:
        pd, prender, postprocess = mods
        info = [{"Width": 256, "Height": 256, "Frames": N_FRAMES, "Pixelsize": CAMERA_PX}]
        locs = pd.DataFrame(
            {
                "frame": table["frame"].astype(np.uint32),
                "x": table["x"] / CAMERA_PX - 0.5,
                "y": table["y"] / CAMERA_PX - 0.5,
                "photons": table["photons"],
                "sx": table["sigma"] / CAMERA_PX,
                "sy": table["sigma"] / CAMERA_PX,
                "bg": table["bg"],
                "lpx": table["x_err"] / CAMERA_PX,
                "lpy": table["y_err"] / CAMERA_PX,
                "ellipticity": np.zeros(N_LOCS, np.float32),
                "net_gradient": np.ones(N_LOCS, np.float32),
            }
        )
        viewport = ((0.0, 0.0), (FIELD_NM / CAMERA_PX, FIELD_NM / CAMERA_PX))

        def p_render(method: str | None) -> Any:
            return prender.render(
                locs,
                info,
                disp_px_size=RENDER_PX,
                viewport=viewport,
                blur_method=method,
                min_blur_width=RENDER_PX / CAMERA_PX,
            )

        def p_undrift() -> Any:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return postprocess.undrift(locs, info, 1000, display=False)[0]

        peers = {"hist": lambda: p_render(None), "gauss": lambda: p_render("gaussian"), "rcc": p_undrift}

    # Warm up (numba compilation, caches), then alternate ours and the peer in every repeat so that load from
    # other processes on this shared machine hits both alike.
    for fn in (*ours.values(), *peers.values()):
        fn()
    times: dict[str, list[float]] = {f"{who}:{k}": [] for who in ("ours", "peer") for k in ours}
    results: dict[str, Any] = {}
    for _ in range(r):
        for key in ours:
            for who, fns in (("ours", ours), ("peer", peers)):
                if key in fns:
                    t0 = time.perf_counter()
                    results[f"{who}:{key}"] = fns[key]()
                    times[f"{who}:{key}"].append(time.perf_counter() - t0)
    rate = {k: N_LOCS / statistics.median(v) for k, v in times.items() if v}
    trace = results["ours:rcc"]
    rms_ours = drift_rms(trace.frames, trace.x, trace.y)
    rms_picasso = float("nan")
    if "peer:rcc" in results:
        drift_df = results["peer:rcc"]
        rms_picasso = drift_rms(
            np.arange(N_FRAMES), drift_df["x"].to_numpy() * CAMERA_PX, drift_df["y"].to_numpy() * CAMERA_PX
        )
    names = {
        "hist": "render histogram, 10 nm px (2560² image)",
        "gauss": "render Gaussian by precision, 10 nm px",
        "rcc": "RCC drift, 10 segments of 1000 frames, 20 nm px",
    }

    print(f"\n{N_LOCS:,} localizations, {N_FRAMES:,} frames; medians of {r} runs")
    print(f"{'task':50s} {'ours loc/s':>12s} {'picasso':>12s} {'ratio':>7s} {'vs table read':>14s}")
    for key, name in names.items():
        ours_rate = rate[f"ours:{key}"]
        p = rate.get(f"peer:{key}")
        ptxt = f"{p / 1e6:10.2f} M" if p else f"{'-':>12s}"
        ratio = f"{ours_rate / p:6.2f}×" if p else f"{'-':>7s}"
        print(f"{name:50s} {ours_rate / 1e6:10.2f} M {ptxt} {ratio} {ours_rate / table_rate:13.3f}×")
    print(f"\nimage sums: histogram {results['ours:hist'].sum():.0f} (= {N_LOCS:,}), "
          f"Gaussian {results['ours:gauss'].sum():.0f}")  # fmt: skip
    print(f"drift RMS error vs truth: ours {rms_ours:.2f} nm ({trace.method}, {trace.pairs_rejected} pairs rejected)"
          + (f", picasso {rms_picasso:.2f} nm" if mods is not None else ""))  # fmt: skip


if __name__ == "__main__":
    main()
