"""Web UI page latency with a 100,000-frame series in the listing (target: every page < 200 ms).

Run: ``.venv/bin/python benchmarks/ui.py`` (about a minute; builds the 100,000-frame series on local disk).

Setup: one in-process data server; ``big/`` holds the 100,000-frame series ``huge.pcs`` (frames written straight to
the server's disk, so building it is fast) beside a results file; ``flat/`` is a plain directory of 100,000 files
(pagination). The UI is served by uvicorn on loopback and asked over keep-alive HTTP, like a browser. Each page is
asked once to warm up, then ``RUNS`` times; medians are printed beside two limits measured in the same run: the
UI's no-op ``/healthz`` round trip (the web stack's floor) and the data server's own fresh listing of ``big/``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from photonflow.formats import pzf
from photonflow.storage import ClusterClient
from photonflow.storage.server import start_server
from photonflow.ui import start_ui
from photonflow.ui._demo import write_demo_results

N_FRAMES = 100_000
RUNS = 7
TARGET_MS = 200.0


def _build(root: Path) -> None:
    series = root / "big" / "huge.pcs"
    series.mkdir(parents=True)
    frame = np.random.default_rng(0).poisson(100, (64, 64)).astype(np.uint16)
    blob = pzf.encode(frame)
    (series / "metadata.json").write_text(json.dumps({"voxelsize.x": 0.1, "voxelsize.y": 0.1, "SizeT": N_FRAMES}))
    for i in range(N_FRAMES):
        (series / f"frame{i:05d}.pzf").write_bytes(blob)
    (series / "final_metadata.json").write_text(json.dumps({"SizeT": N_FRAMES}))
    (series / "events.json").write_text("[]")
    flat = root / "flat"
    flat.mkdir()
    for i in range(N_FRAMES):
        (flat / f"f{i:06d}.txt").write_bytes(b"x")


def _median_ms(fn: object, runs: int = RUNS) -> float:
    assert callable(fn)
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="photonflow-uibench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        _build(root)
        print(f"built a {N_FRAMES}-frame series and a {N_FRAMES}-file directory in {time.perf_counter() - t0:.1f} s")
        server = start_server(root, cluster="uibench")
        client = ClusterClient("uibench", servers=[f"http://127.0.0.1:{server.port}"], registry=False,
                               zeroconf=False)
        write_demo_results(client, "big/locs.h5r", n=20_000)
        ui = start_ui(client=client)
        pages = [
            ("files: root", "/files/"),
            ("files: dir with the 100k-frame series", "/files/big"),
            ("files: 100k-entry dir, page 1", "/files/flat"),
            ("files: 100k-entry dir, page 200", "/files/flat?page=200"),
            ("series page (100k frames)", "/series/big/huge.pcs"),
            ("frame 99999 as PNG", "/frame/big/huge.pcs?i=99999"),
            ("live frame count", "/series-count/big/huge.pcs"),
            ("launch form", "/launch?series=big/huge.pcs"),
            ("recipe form", "/recipe"),
            ("rules (no rule service)", "/rules"),
            ("status", "/status"),
            ("results page (20k locs, cached table)", "/results/big/locs.h5r"),
            ("results image PNG 640x640", "/results-image/big/locs.h5r?px=10"),
        ]
        try:
            with httpx.Client(base_url=ui.url, headers={"accept": "text/html"}, timeout=30) as http:
                floor = _median_ms(lambda: http.get("/healthz"))
                listing = _median_ms(lambda: client.listdirectory("big", fresh=True))
                print(f"floor: /healthz round trip {floor:.1f} ms; data server fresh listing of big/ {listing:.1f} ms")
                print(f"{'page':45s} {'median ms':>10s} {'÷ target':>9s} {'÷ floor':>8s}")
                worst = 0.0
                for name, path in pages:
                    status = http.get(path).status_code
                    if status != 200:
                        print(f"{name}: HTTP {status}", file=sys.stderr)
                        return 1
                    ms = _median_ms(lambda path=path: http.get(path))
                    worst = max(worst, ms)
                    print(f"{name:45s} {ms:10.1f} {ms / TARGET_MS:9.2f} {ms / floor:8.1f}")
                verdict = "meets" if worst < TARGET_MS else "MISSES"
                print(f"slowest page {worst:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target")
        finally:
            ui.stop()
            client.close()
            server.stop(grace=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
