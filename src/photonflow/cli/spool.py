"""``photonflow spool`` (stream a TIFF stack or simulated sCMOS frames into a new series) and ``photonflow series``
(what a series holds)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from photonflow.cli._common import add_cluster_options, config_from_args

if TYPE_CHECKING:
    from photonflow.formats.series import SeriesWriter, SpoolReport

__all__ = ["register", "simulate_scmos_frames"]

_COMPRESSION: dict[str, Literal["huffman", "blosc2", "raw"]] = {"huffman": "huffman", "blosc2": "blosc2", "none": "raw"}
# Distinct simulated frames generated up front and then cycled: drawing 4 Mpixel of Poisson noise costs ~0.1 s,
# far slower than the camera rates the simulator is there to reproduce.
_SIM_POOL = 8


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``spool`` and ``series`` commands."""
    spool = subparsers.add_parser(
        "spool",
        help="stream a TIFF stack or simulated camera frames into a new series on the cluster",
        description="Stream frames into a new .pcs series: metadata.json first, frames in blocks of --chunk-size "
        "per server, events.json only once every frame is acknowledged. TIFF pages are read one at a time.",
    )
    spool.add_argument("source", nargs="?", type=Path, help="multi-page TIFF file (omit with --simulate)")
    spool.add_argument("--to", required=True, metavar="SERIES",
                       help="new series path or PYME-CLUSTER:// URI, e.g. run1/cell3.pcs")
    spool.add_argument("--simulate", type=int, metavar="N", help="spool N simulated sCMOS frames instead of a file")
    spool.add_argument("--shape", default="2048x2048", help="simulated frame size WxH (default 2048x2048)")
    spool.add_argument("--compression", choices=sorted(_COMPRESSION), default="huffman",
                       help="PZF codec: huffman (PYME-readable, default), blosc2 (faster, photonflow only), none")
    spool.add_argument("--chunk-size", type=int, help="frames per server block (default: httpspooler-chunksize)")
    spool.add_argument("--pixel-size-nm", type=float, help="pixel size recorded in the metadata")
    spool.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_cluster_options(spool)
    spool.set_defaults(handler=_spool)

    series = subparsers.add_parser(
        "series",
        help="show a series: frames, completeness, frame shape and type, servers holding its blocks",
    )
    series.add_argument("series", metavar="SERIES", help="series path or PYME-CLUSTER:// URI")
    add_cluster_options(series)
    series.set_defaults(handler=_series)


def simulate_scmos_frames(n: int, shape: tuple[int, int], *, seed: int = 0, emitters: int = 30) -> Iterator[np.ndarray]:
    """Yield ``n`` uint16 sCMOS-like frames: per-pixel offset and gain, Poisson background, blinking Gaussian
    emitters, read noise.

    A pool of a few distinct frames is simulated up front and cycled, so frames come at memory speed.
    """
    rng = np.random.default_rng(seed)
    offset = rng.normal(100.0, 2.0, shape).astype(np.float32)
    gain = rng.normal(2.0, 0.1, shape).astype(np.float32)
    xs = np.arange(shape[0], dtype=np.float32)[:, None]
    ys = np.arange(shape[1], dtype=np.float32)[None, :]
    pool = []
    for _ in range(min(n, _SIM_POOL)):
        photons = np.full(shape, 10.0, np.float32)
        for x0, y0 in rng.uniform(5, np.array(shape) - 5, size=(emitters, 2)):
            # Each emitter only touches a small box, so a large frame costs little.
            x_lo, x_hi = int(x0) - 5, int(x0) + 6
            y_lo, y_hi = int(y0) - 5, int(y0) + 6
            box = np.exp(-((xs[x_lo:x_hi] - x0) ** 2 + (ys[:, y_lo:y_hi] - y0) ** 2) / (2 * 1.3**2))
            photons[x_lo:x_hi, y_lo:y_hi] += 3000.0 / (2 * np.pi * 1.3**2) * box
        adu = rng.poisson(photons).astype(np.float32) / gain + offset + rng.normal(0, 1.5, shape).astype(np.float32)
        pool.append(np.clip(adu, 0, 65535).astype(np.uint16))
    for i in range(n):
        yield pool[i % len(pool)]


def _tiff_frames(path: Path) -> tuple[int, Iterator[np.ndarray]]:
    import tifffile

    tif = tifffile.TiffFile(path)
    n = len(tif.pages)

    def frames() -> Iterator[np.ndarray]:
        with tif:
            for page in tif.pages:
                # TIFF pages are (rows=y, cols=x); PYME frames put x on axis 0.
                yield page.asarray().T

    return n, frames()


def _parse_shape(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"photonflow spool: --shape must look like 2048x2048, got {text!r}") from None
    return w, h


def _spool(args: argparse.Namespace) -> int:
    from photonflow.formats.series import SeriesWriter
    from photonflow.storage import ClusterClient

    if (args.source is None) == (args.simulate is None):
        print("photonflow spool: give either a TIFF SOURCE or --simulate N", file=sys.stderr)
        return 2
    config = config_from_args(args)
    metadata: dict[str, Any] = {}
    if args.pixel_size_nm is not None:
        metadata["voxelsize.x"] = metadata["voxelsize.y"] = args.pixel_size_nm / 1000.0
    if args.simulate is not None:
        n = args.simulate
        frames = simulate_scmos_frames(n, _parse_shape(args.shape))
        metadata["Spooler.Source"] = "simulated sCMOS"
    else:
        n, frames = _tiff_frames(args.source)
        metadata["Spooler.Source"] = str(args.source)
    chunk = args.chunk_size or config.chunk_size
    t0 = time.time()
    with ClusterClient(config=config) as client:
        writer = SeriesWriter(client, args.to, metadata, chunk_size=chunk, compression=_COMPRESSION[args.compression])
        with writer:
            _feed(writer, frames, n, progress=not args.no_progress)
            report = writer.finalize([("StartAq", "0", t0)])
        _print_report(report, client.uri(writer.path))
    return 0


def _feed(writer: SeriesWriter, frames: Iterator[np.ndarray], n: int, *, progress: bool) -> None:
    from tqdm import tqdm

    start = time.monotonic()
    raw = 0
    with tqdm(total=n, unit="frame", disable=not progress, smoothing=0.1) as bar:
        last = start
        for i, frame in enumerate(frames):
            writer.store_frame(i, frame)
            raw += frame.nbytes
            bar.update(1)
            now = time.monotonic()
            if now - last > 0.5:
                bar.set_postfix_str(f"{raw / (now - start) / 1e6:.0f} MB/s")
                last = now


def _print_report(report: SpoolReport, uri: str) -> None:
    rate = report.raw_bytes / report.elapsed_s / 1e6 if report.elapsed_s > 0 else 0.0
    ratio = report.raw_bytes / report.stored_bytes if report.stored_bytes else 0.0
    print(f"spooled {report.frames} frames to {uri} in {report.elapsed_s:.1f} s "
          f"({report.frames / report.elapsed_s:.0f} frames/s, {rate:.0f} MB/s raw, compression {ratio:.2f}x)")
    for url, count in report.frames_per_server.items():
        print(f"  {url}: {count} frames")
    if report.resent:
        print(f"  re-sent after connection errors (all acknowledged): {len(report.resent)} files")


def _series(args: argparse.Namespace) -> int:
    from photonflow.formats.series import SeriesReader
    from photonflow.storage import ClusterClient

    config = config_from_args(args)
    with ClusterClient(config=config) as client:
        series = SeriesReader(client, args.series)
        print(f"series    {client.uri(series.path)}")
        print(f"frames    {len(series)}")
        print(f"complete  {'yes' if series.is_complete else 'no (still spooling, or interrupted)'}")
        if len(series):
            header = series.header
            print(f"shape     {' x '.join(map(str, series.shape))}")
            print(f"dtype     {series.dtype}")
            print(f"codec     {header.compression.name.lower()}")
        for url, count in sorted(series.servers.items()):
            print(f"server    {url}: {count} frames")
        if series.is_complete:
            print(f"events    {len(series.events)}")
    return 0
