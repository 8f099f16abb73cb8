"""``photonflow up``: a whole cluster on this machine (data server, scheduler, workers), optionally a live demo."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photonflow.cli._common import config_from_args

if TYPE_CHECKING:
    from photonflow.compute.cluster_of_one import ClusterOfOne
    from photonflow.config import Config
    from photonflow.ui.app import RunningUI

__all__ = ["register"]

_DEMO_RECIPE = """\
- Render: {input: input, output: image, method: gaussian, pixel_nm: 10}
- SaveImage: {input: image, file_pattern: '{output_dir}/{file_stub}.png'}
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``up`` command."""
    parser = subparsers.add_parser(
        "up",
        help="run a cluster of one on this machine (and a live analysis demo with --demo)",
        description="Start a data server, the scheduler and workers on loopback; Ctrl-C or SIGTERM stop them all. "
        "With --demo, stream a simulated acquisition into it, analyse it live, print progress, and exit with the "
        "paths of the results (.h5r) and the rendered image (.png).",
    )
    parser.add_argument("--root", type=Path, help="directory to store data in (default: dataserver-root)")
    parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 4), help="worker processes")
    parser.add_argument("--cluster", help="cluster name (default from config)")
    parser.add_argument("--config", type=Path, help="read this YAML config file instead of the default ones")
    parser.add_argument("--demo", action="store_true", help="stream and analyse a simulated acquisition")
    parser.add_argument("--demo-frames", type=int, default=3000, help="frames in the demo acquisition")
    parser.add_argument("--demo-size", type=int, default=64, help="demo frame side, pixels")
    parser.add_argument("--demo-fps", type=float, default=1000.0, help="demo camera frame rate")
    parser.add_argument("--chunk-size", type=int, default=100, help="demo frames per spool chunk (= per task)")
    parser.add_argument("--keep-running", action="store_true", help="after the demo, keep the cluster up")
    parser.add_argument("--ui-port", type=int, default=8789, help="web UI port (default 8789; any free port if taken)")
    parser.add_argument("--no-ui", action="store_true", help="do not start the web UI")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from photonflow.compute.cluster_of_one import ClusterOfOne

    config = config_from_args(args, dataserver_root=args.root)
    stop = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    t0 = time.monotonic()
    cluster = ClusterOfOne(root=config.dataserver_root, cluster=config.cluster, workers=max(args.workers, 1))
    ui = None
    try:
        with cluster:
            if not args.no_ui:
                ui = _start_ui(cluster, config, port=args.ui_port)
            print(f"photonflow up: data server {cluster.dataserver_url}, scheduler {cluster.scheduler_address}, "
                  f"rule API {cluster.api_url}, {args.workers} worker(s), root {cluster.root} "
                  f"(ready in {time.monotonic() - t0:.1f} s)", flush=True)
            if ui is not None:
                print(f"photonflow up: web UI {ui.url}", flush=True)
            status = 0
            if args.demo:
                status = _demo(cluster, args)
                if not args.keep_running:
                    return status
            print("photonflow up: running; Ctrl-C stops the cluster", flush=True)
            while not stop.wait(1.0):
                pass
            return status
    except KeyboardInterrupt:
        print("photonflow up: stopped", file=sys.stderr)
        return 0
    finally:
        if ui is not None:
            ui.stop()


def _start_ui(cluster: ClusterOfOne, config: Config, *, port: int) -> RunningUI:
    """The web UI in this process, on loopback; on any free port when ``port`` is taken."""
    from photonflow.storage import ClusterClient
    from photonflow.ui import auth_from_config, start_ui

    client = ClusterClient(cluster.cluster, [cluster.dataserver_url], token=config.token, zeroconf=False)
    auth = auth_from_config(config.ui_users, token=config.token, secret=config.ui_secret)
    options: dict[str, Any] = {"client": client, "rules_api_url": cluster.api_url, "auth": auth}
    try:
        return start_ui(host="127.0.0.1", port=port, **options)
    except OSError:
        return start_ui(host="127.0.0.1", port=0, **options)


def _demo(cluster: ClusterOfOne, args: argparse.Namespace) -> int:
    from photonflow.compute.api import RuleAPI
    from photonflow.formats.series import SeriesWriter
    from photonflow.localization.simulate import simulate
    from photonflow.storage import ClusterClient

    n, size = args.demo_frames, args.demo_size
    print(f"demo: simulating {n} frames of {size}x{size} (blinking emitters on filaments)", flush=True)
    movie = simulate(n_frames=n, shape=(size, size), structure="microtubules", n_emitters=max(size * size // 8, 50),
                     active_per_frame=max(size * size / 800, 2.0), seed=1)
    metadata = {**movie.camera.to_metadata(), "voxelsize.x": movie.pixel_size / 1e3,
                "voxelsize.y": movie.pixel_size / 1e3, "Camera.CycleTime": 1 / args.demo_fps}
    series = f"demo/{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.pcs"
    api = RuleAPI(cluster.api_url)
    t0 = time.monotonic()
    with ClusterClient(cluster.cluster, [cluster.dataserver_url], zeroconf=False) as client:
        writer = SeriesWriter(client, series, metadata, chunk_size=args.chunk_size)
        params = {"psf_sigma": movie.psf_sigma * movie.pixel_size, "pixel_size": movie.pixel_size}
        rule = api.submit_localization(series, params=params, then={"recipe": _DEMO_RECIPE})
        print(f"demo: spooling to PYME-CLUSTER://{cluster.cluster}/{series}; rule {rule['id']} analyses it live",
              flush=True)
        last = 0.0
        for i, frame in enumerate(movie.frames):
            writer.store_frame(i, frame)
            lag = (i + 1) / args.demo_fps - (time.monotonic() - t0)
            if lag > 0:
                time.sleep(lag)
            if time.monotonic() - last > 1.0:
                last = time.monotonic()
                _progress(api.rule(rule["id"]), i + 1, t0, args.chunk_size)
        writer.finalize([("StartAq", "0", time.time() - n / args.demo_fps), ("StopAq", "0", time.time())])
        print(f"demo: spooling done ({n} frames in {time.monotonic() - t0:.1f} s)", flush=True)
        deadline = time.monotonic() + 600
        while (state := api.rule(rule["id"]))["status"] in ("active", "assembling"):
            if time.monotonic() > deadline:
                print("demo: analysis did not finish in 10 minutes", file=sys.stderr)
                return 1
            if time.monotonic() - last > 1.0:
                last = time.monotonic()
                _progress(state, n, t0, args.chunk_size)
            time.sleep(0.2)
        _progress(state, n, t0, args.chunk_size)
        if state["status"] != "complete":
            print(f"demo: analysis {state['status']}: {state.get('error')}", file=sys.stderr)
            return 1
        final = api.wait(rule["id"], timeout_s=300)
        if final["status"] != "complete":
            print(f"demo: rendering {final['status']}: {final.get('error')}", file=sys.stderr)
            return 1
    h5r = cluster.data_path(state["outputs"][0])
    pngs = [cluster.data_path(p) for p in final["outputs"] if p.endswith(".png")]
    elapsed = time.monotonic() - t0
    print(f"demo: {state['counts']['rows']} localizations from {n} frames in {elapsed:.1f} s "
          f"({n / elapsed:.0f} frames/s end to end)")
    print(f"demo: results {h5r}")
    print(f"demo: image {pngs[0] if pngs else '(none)'}", flush=True)
    return 0 if pngs and h5r.exists() else 1


def _progress(rule: dict[str, Any], spooled: int, t0: float, chunk_size: int) -> None:
    c = rule["counts"]
    analysed = min(c["done"] * chunk_size, rule["frames"] or spooled)
    dt = max(time.monotonic() - t0, 1e-9)
    print(f"  spooled {spooled:6d}  analysed {analysed:6d}  localizations {c['rows']:7d}  "
          f"{analysed / dt:7.0f} frames/s  tasks {c['done']}/{c['released']} ({c['running']} running)", flush=True)
