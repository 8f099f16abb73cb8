"""End-to-end ingest benchmark: one producer spooling simulated 2048×2048 uint16 sCMOS frames into a cluster.

Run: ``.venv/bin/python benchmarks/ingest.py`` (2–4 minutes; ``--frames`` and ``--repeats`` to change).

Measured in one run, on loopback:

* the machine's limits: loopback TCP throughput (one connection, 8 MiB sends) and memcpy of a frame;
* the codecs (``photonflow.formats.pzf``): encode MB/s of raw frame data and compression ratio, one thread;
* sustained ingest: :class:`~photonflow.formats.series.SeriesWriter` from one producer thread into one and into
  two data servers (``photonflow dataserver`` subprocesses), with fsync off and on, per codec. The time runs from
  the first ``store_frame`` to the return of ``finalize`` (every frame acknowledged, ``events.json`` written). Every
  run is then checked for loss: the series must be complete with every frame present, and sampled frames must read
  back bit-exactly.

Each figure is the median of ``--repeats`` runs (default 3) and is printed beside the limit it should be compared
with, as a ratio, and beside the 800 MB/s camera rate.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from photonflow.cli.spool import simulate_scmos_frames
from photonflow.formats import pzf
from photonflow.formats.series import SeriesReader, SeriesWriter
from photonflow.storage import ClusterClient

SHAPE = (2048, 2048)
CAMERA_MBS = 800.0
_LISTENING = re.compile(r"listening on (http://\S+)")


def _median(fn: Callable[[], float], repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def loopback_mbs(total: int = 1 << 30, chunk: int = 8 << 20) -> float:
    """One TCP connection over 127.0.0.1: MB/s from sender to a receiver thread that discards."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def receive() -> None:
        conn, _ = listener.accept()
        buf = bytearray(1 << 20)
        while conn.recv_into(buf):
            pass
        conn.close()

    thread = threading.Thread(target=receive)
    thread.start()
    data = b"\0" * chunk
    sock = socket.create_connection(("127.0.0.1", port))
    t0 = time.perf_counter()
    for _ in range(total // chunk):
        sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    thread.join()
    elapsed = time.perf_counter() - t0
    sock.close()
    listener.close()
    return total / elapsed / 1e6


def memcpy_mbs(frame: np.ndarray) -> float:
    t0 = time.perf_counter()
    for _ in range(20):
        frame.copy()
    return 20 * frame.nbytes / (time.perf_counter() - t0) / 1e6


def codec_figures(frames: list[np.ndarray], codec: str) -> tuple[float, float]:
    """(encode MB/s one thread, compression ratio) over the frame pool."""
    pzf.encode(frames[0], compression=codec)  # warm-up: numba compilation
    t0 = time.perf_counter()
    sizes = [len(pzf.encode(f, compression=codec)) for f in frames]
    elapsed = time.perf_counter() - t0
    raw = sum(f.nbytes for f in frames)
    return raw / elapsed / 1e6, raw / sum(sizes)


@contextmanager
def servers(n: int, *, fsync: bool) -> Iterator[tuple[list[str], list[Path]]]:
    """``n`` data server subprocesses on loopback, each on its own fresh root."""
    roots = [Path(tempfile.mkdtemp(prefix="pf-ingest-")) for _ in range(n)]
    procs = []
    urls = []
    try:
        for root in roots:
            cmd = [sys.executable, "-m", "photonflow", "dataserver", "--root", str(root), "--cluster", "bench",
                   "--port", "0", "--advertise", "none", "--config", os.devnull, "--free-space-floor", "0"]
            if not fsync:
                cmd.append("--no-fsync")
            with open(root.with_suffix(".log"), "w") as log:  # a file: a chatty server never blocks on a pipe
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
            procs.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = _LISTENING.search(line)
            if not match:
                raise RuntimeError(f"data server did not start: {line!r}")
            urls.append(match.group(1))
        yield urls, roots
    except Exception:
        for root in roots:
            print(f"--- server log {root}:\n{root.with_suffix('.log').read_text()[-4000:]}", file=sys.stderr)
        raise
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
            root.with_suffix(".log").unlink(missing_ok=True)


def ingest_once(urls: list[str], pool: list[np.ndarray], n_frames: int, codec: str, run: int) -> float:
    """Spool ``n_frames`` frames; return raw MB/s; raise if anything was lost."""
    path = f"bench/{codec}-{run}.pcs"
    with ClusterClient("bench", servers=urls, registry=False, zeroconf=False) as client:
        writer = SeriesWriter(client, path, {"voxelsize.x": 0.1}, chunk_size=50, compression=codec)
        t0 = time.perf_counter()
        for i in range(n_frames):
            writer.store_frame(i, pool[i % len(pool)])
        report = writer.finalize([("StartAq", "0", time.time())])
        elapsed = time.perf_counter() - t0
        series = SeriesReader(client, path)
        if not (series.is_complete and len(series) == n_frames == report.frames):
            raise AssertionError(f"LOSS: {len(series)} of {n_frames} frames, complete={series.is_complete}")
        for i in (0, n_frames // 2, n_frames - 1):
            if not np.array_equal(series[i], pool[i % len(pool)]):
                raise AssertionError(f"frame {i} does not read back bit-exactly")
    return n_frames * pool[0].nbytes / elapsed / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200, help="frames per ingest run (default 200 = 1.7 GB)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--codecs", default="blosc2,raw,huffman")
    args = parser.parse_args()
    pool = list(simulate_scmos_frames(8, SHAPE, seed=0))
    frame_mb = pool[0].nbytes / 1e6

    tcp = _median(loopback_mbs, args.repeats)
    mem = _median(lambda: memcpy_mbs(pool[0]), args.repeats)
    print(f"machine: {os.cpu_count()} cores; frame {SHAPE[0]}x{SHAPE[1]} uint16 = {frame_mb:.1f} MB")
    print(f"loopback TCP, one connection: {tcp:8.0f} MB/s   ({tcp / CAMERA_MBS:.2f}x camera rate)")
    print(f"memcpy of a frame:            {mem:8.0f} MB/s")
    codecs = args.codecs.split(",")
    print("\ncodec (one thread)   encode MB/s   ratio   encode / camera rate")
    for codec in codecs:
        enc, ratio = statistics.median(codec_figures(pool, codec)[0] for _ in range(args.repeats)), \
            codec_figures(pool, codec)[1]
        print(f"{codec:20s} {enc:11.0f} {ratio:7.2f}   {enc / CAMERA_MBS:6.2f}")

    print(f"\ningest, one producer, {args.frames} frames/run, median of {args.repeats}; no loss checked every run")
    print("servers  fsync  codec     MB/s raw   frames/s   / loopback TCP   / camera 800 MB/s")
    plans = [(n, fsync, codec) for n in (1, 2) for fsync in (False, True) for codec in codecs
             if not (fsync and codec != codecs[0])]  # fsync on: the first (fastest) codec only, to stay bounded
    for n, fsync, codec in plans:
        with servers(n, fsync=fsync) as (urls, _roots):
            n_frames = args.frames if codec != "huffman" else max(args.frames // 4, 50)
            rates = [ingest_once(urls, pool, n_frames, codec, run) for run in range(args.repeats)]
        rate = statistics.median(rates)
        print(f"{n:7d}  {'on' if fsync else 'off':5s}  {codec:8s} {rate:9.0f} {rate / frame_mb:10.1f} "
              f"{rate / tcp:16.2f} {rate / CAMERA_MBS:18.2f}")


if __name__ == "__main__":
    main()
