"""Read-back benchmark: frames/s read through ``SeriesReader`` from a data server over HTTP.

Run: ``.venv/bin/python benchmarks/readback.py`` (under a minute; ``--frames``, ``--repeats`` to change).

One ``photonflow dataserver`` subprocess on loopback holds a ``--frames``-frame 64×64 uint16 series (blosc2 PZF,
chunk 50). Clients are made with ``local_reads=False``, so every frame crosses HTTP. Measured in the same run:

* the limit: one keep-alive ``http.client`` connection GETting each frame by name (no client logic at all);
* ``SeriesReader.read_frames`` over the whole series (the reader passes each frame's holder from its listing);
* ``ClusterClient.get_file`` of each frame by path alone (the client's own holder guess, no hint);
* ``ClusterClient.get_file`` after every listing-cache expiry, i.e. the full lookup the client makes on a miss.

Each figure is the median of ``--repeats`` runs, printed as frames/s and as a ratio to the raw-GET limit. The script
only uses public API that older versions also have, so it can be run on an older checkout for a before/after.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from photonflow.formats.series import SeriesReader, SeriesWriter, frame_name
from photonflow.storage import ClusterClient

_LISTENING = re.compile(r"listening on (http://\S+)")
SERIES = "bench/readback.pcs"


@contextmanager
def data_server() -> Iterator[str]:
    """One data server subprocess on a fresh root; yields its URL."""
    root = Path(tempfile.mkdtemp(prefix="pf-readback-"))
    cmd = [sys.executable, "-m", "photonflow", "dataserver", "--root", str(root), "--cluster", "bench", "--port", "0",
           "--advertise", "none", "--config", os.devnull, "--free-space-floor", "0", "--no-fsync"]
    with open(root.with_suffix(".log"), "w") as log:  # a file: a chatty server never blocks on a pipe
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        match = _LISTENING.search(proc.stdout.readline())
        if not match:
            raise RuntimeError(f"data server did not start; see {root.with_suffix('.log')}")
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
        root.with_suffix(".log").unlink(missing_ok=True)


def client(url: str, **kw: object) -> ClusterClient:
    return ClusterClient("bench", [url], registry=False, zeroconf=False, local_reads=False, **kw)  # type: ignore[arg-type]


def rate(n: int, fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def raw_gets(url: str, n: int) -> float:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def run() -> None:
        for i in range(n):
            conn.request("GET", f"/{SERIES}/{frame_name(i)}")
            response = conn.getresponse()
            response.read()
            assert response.status == 200

    try:
        return rate(n, run)
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.frames
    frames = np.random.default_rng(0).integers(90, 400, size=(n, 64, 64), dtype=np.uint16)
    with data_server() as url:
        with client(url) as c, SeriesWriter(c, SERIES, {"voxelsize.x": 0.1}, chunk_size=50) as writer:
            for i, frame in enumerate(frames):
                writer.store_frame(i, frame)
            writer.finalize()

        def reader_run() -> float:
            with client(url) as c:
                reader = SeriesReader(c, SERIES)
                got: list[np.ndarray] = []
                speed = rate(n, lambda: got.append(reader.read_frames(0, n)))
                np.testing.assert_array_equal(got[0], frames)  # the rate counts only correct reads
                return speed

        def by_path_run(**kw: object) -> float:
            with client(url, **kw) as c:
                return rate(n, lambda: [c.get_file(f"{SERIES}/{frame_name(i)}") for i in range(n)])

        rows = [
            ("raw GET, one keep-alive connection (limit)", statistics.median(raw_gets(url, n)
                                                                             for _ in range(args.repeats))),
            ("SeriesReader.read_frames", statistics.median(reader_run() for _ in range(args.repeats))),
            ("get_file(path), default client", statistics.median(by_path_run() for _ in range(args.repeats))),
            ("get_file(path), listing_ttl_s=0", statistics.median(by_path_run(listing_ttl_s=0.0)
                                                                  for _ in range(args.repeats))),
        ]
    limit = rows[0][1]
    print(f"{n} frames of 64x64 uint16, one data server on loopback, local reads off; median of {args.repeats}")
    print(f"{'path':48s} {'frames/s':>10s} {'/ raw GET':>10s}")
    for name, value in rows:
        print(f"{name:48s} {value:10.0f} {value / limit:10.2f}")


if __name__ == "__main__":
    main()
